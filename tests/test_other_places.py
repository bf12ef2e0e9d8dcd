"""A question about another place's rules is not answered with Beijing's: 上海的失业金 is not
北京的失业保险金. National documents apply there too, and someone from elsewhere asking about
Beijing is asking about Beijing."""

from __future__ import annotations

from app.answering.answerability import unmatched_place
from app.config import Settings
from app.domain import SearchHit
from app.policy_data import word_list

PLACES = word_list(str(Settings().answer.other_places_path))


def _hit(doc_id: str, text: str, level: str | None, title: str = "北京市失业保险规定") -> SearchHit:
    return SearchHit(chunk_id=doc_id, doc_id=doc_id, score=1.0, text=text, start=0, end=len(text),
                     heading_path=[], document={"title": title, "level": level})


BEIJING = _hit("bj", "失业保险金的领取期限根据失业人员失业前累计缴费时间确定。", "市级")
NATIONAL = _hit("gov", "失业人员可以领取失业保险金，期限最长为24个月。", "国家", "失业保险条例")


def test_a_question_about_another_city_answered_from_beijing_documents_names_the_city():
    assert unmatched_place("上海失业了可以领多久失业金？", [BEIJING], PLACES, {"bj"}) == "上海"
    assert unmatched_place("内蒙古的低保标准是多少？", [BEIJING], PLACES, {"bj"}) == "内蒙古"


def test_it_is_none_when_beijing_rules_are_what_is_asked():
    assert unmatched_place("河北户口的老人能领高龄津贴吗？", [BEIJING], PLACES, {"bj"}) is None  # where from
    assert unmatched_place("从天津转到北京的失业金怎么领？", [BEIJING], PLACES, {"bj"}) is None  # names Beijing
    assert unmatched_place("失业了可以领多久失业金？", [BEIJING], PLACES, {"bj"}) is None


def test_it_is_none_when_a_source_speaks_of_the_place_or_a_national_document_is_quoted():
    hubei = _hit("hb", "湖北省城乡居民基本医疗保险费集中缴费统一延长至3月31日。", None, "湖北省医疗保障局通知")
    assert unmatched_place("湖北省居民医保缴费延长到什么时候？", [hubei], PLACES, {"hb"}) is None
    assert unmatched_place("上海失业了可以领多久失业金？", [BEIJING, NATIONAL], PLACES, {"bj", "gov"}) is None
    # a document of unknown level (the COVID Q&A corpus) may be another place's own
    unknown = _hit("x", "失业保险金按月发放。", None)
    assert unmatched_place("上海失业了可以领多久失业金？", [unknown], PLACES, {"x"}) is None
