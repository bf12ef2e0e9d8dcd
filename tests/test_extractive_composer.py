"""Which passage the extractive composer quotes."""

from __future__ import annotations

from app.answering.extractive import ExtractiveComposer
from app.composition import build_sparse
from app.domain import SearchHit

TITLE = "农业农村部开展防控疫情专项法治宣传行动"
OPENING = (f"{TITLE}\n为切实做好新冠肺炎疫情防控工作，农业农村部日前启动开展防控疫情专项法治宣传行动，"
           "大力宣传动物防疫法、野生动物保护法和渔业法等法律法规。")
FOCUS = "据介绍，此次专项法治宣传行动注重以案释法，注重运用新媒体新技术，注重把普法融入到执法和管理服务过程中。"


# the rest of a realistic source list: other documents on nearby topics, ranked below
OTHERS = ["农业农村部办公厅关于公布热线电话受理新冠肺炎疫情防控期间问题线索的通告。",
          "各级农业农村部门要做好春耕生产，统筹疫情防控和农业生产。",
          "全国普法办印发防控疫情法治宣传工作方案，要求各地开展宣传。",
          "市场监管部门依法查处哄抬物价行为，维护市场秩序。",
          "交通运输部要求保障农业生产物资运输畅通。"]


def _hit(chunk_id: str, text: str, start: int, score: float, doc_id: str = "doc", title: str = TITLE) -> SearchHit:
    return SearchHit(chunk_id=chunk_id, doc_id=doc_id, score=score, text=text, start=start, end=start + len(text),
                     heading_path=[], document={"title": title})


def _quoted(settings, **options) -> str:
    # a budget that holds one of the two passages: the test is which one
    composer = ExtractiveComposer(build_sparse(settings), budget_chars=80, **options)
    sources = [_hit("c1", f"{OPENING}\n{FOCUS}", 0, 2.2)]
    sources += [_hit(f"o{n}", text, 0, 1.0 - n / 10, doc_id=f"other{n}", title=text[:12])
                for n, text in enumerate(OTHERS)]
    extract = composer.compose("农业农村部防控疫情专项法治宣传行动注重哪些方面？", sources)
    return "".join(s.text for s in extract.sentences)


def test_the_clause_that_answers_beats_the_opening_that_repeats_the_title(settings):
    # the opening shares every topic word with the question, but they are the title's words;
    # the answer is the clause with the question's own word, 注重
    assert "注重以案释法" in _quoted(settings)


def test_without_title_awareness_the_opening_would_win(settings):
    # the same sources scored as if title words said which passage answers: proves the test above can fail
    assert "注重以案释法" not in _quoted(settings, title_term_weight=1.0)
