"""What the extractive composer quotes: the sentence that holds what was asked, short; lists with
their lead-in; headings never; the current figure before an amended one; the clause for a
question about measures."""

from __future__ import annotations

import pytest

from app.answering.extractive import ExtractiveComposer
from app.composition import build_sparse
from app.config import REPO_ROOT
from app.domain import SearchHit
from app.policy_data import kinds_asked, question_kinds
from app.vocabulary import Vocabulary, question_terms, read_pairs

TITLE = "农业农村部开展防控疫情专项法治宣传行动"
OPENING = (f"{TITLE}\n为切实做好新冠肺炎疫情防控工作，农业农村部日前启动开展防控疫情专项法治宣传行动，"
           "大力宣传动物防疫法、野生动物保护法和渔业法等法律法规。")
FOCUS = "据介绍，此次专项法治宣传行动注重以案释法，注重运用新媒体新技术，注重把普法融入到执法和管理服务过程中。"
OTHERS = ["农业农村部办公厅关于公布热线电话受理新冠肺炎疫情防控期间问题线索的通告。",
          "各级农业农村部门要做好春耕生产，统筹疫情防控和农业生产。",
          "全国普法办印发防控疫情法治宣传工作方案，要求各地开展宣传。",
          "市场监管部门依法查处哄抬物价行为，维护市场秩序。",
          "交通运输部要求保障农业生产物资运输畅通。"]

DIBAO_RULES = ("一、城乡低保标准\n（一）本市实施城乡统一的最低生活保障标准。城乡低保标准主要考虑居民必需的基本生活需要，"
               "按照本市上年度城镇居民人均消费支出的一定比例确定。\n四、申请\n（三）申请城乡低保应当提交以下材料：\n"
               "1.《社会救助申请（定期核查）表及授权书》；\n2.本人和共同生活家庭成员的身份证和户口本原件；\n"
               "3.收入证明。\n（四）申请家庭应当向户籍所在地街道办事处（乡镇人民政府）提出书面申请。")
DIBAO_2024 = "一、本市低保标准从每人每月1395元调整为1450元。\n二、因标准提高所增加的经费，由各区财政负担。\n三、新标准从2024年7月施行。"
OLD_SCHEME = "二、扶助标准\n独生子女死亡后未再生育或收养子女的夫妻，由政府给予每人每月200元的扶助金，直至亡故为止。"
NEW_SCHEME = ("一、调整标准\n自2022年7月1日起，将符合政策条件的本市计划生育家庭独生子女伤残、死亡特别扶助金分别由"
              "每人每月590元、720元提高到每人每月740元、900元。")


def _hit(chunk_id: str, text: str, score: float, doc_id: str = "doc", title: str = TITLE, **document) -> SearchHit:
    return SearchHit(chunk_id=chunk_id, doc_id=doc_id, score=score, text=text, start=0, end=len(text),
                     heading_path=[], document={"title": title, **document})


@pytest.fixture(scope="module")
def sparse():
    from app.config import Settings

    return build_sparse(Settings())


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary(read_pairs(REPO_ROOT / "policies" / "dictionaries" / "colloquial.txt"))


def _answer(sparse, vocabulary, question: str, sources: list[SearchHit], **options):
    composer = ExtractiveComposer(question_kinds(), tokenize=sparse.tokens, **options)
    terms = question_terms(question, sparse.words(question), vocabulary)
    return composer.compose(question, sources, terms, kinds_asked(question))


def _quoted(sparse, vocabulary, question: str, sources: list[SearchHit], **options) -> list[str]:
    """What the answer quotes, line by line (a list is one quote whose lines are the document's)."""
    return [line for s in _answer(sparse, vocabulary, question, sources, **options).sentences
            for line in s.text.split("\n")]


def _text(extract) -> str:
    return "".join(s.text for s in extract.sentences)


def test_an_amount_question_gets_the_sentence_with_the_figure(sparse, vocabulary):
    # as in the bundled corpus: the 2024 notice amends the standard the rules describe
    sources = [_hit("r", DIBAO_RULES, 2.0, "rules", "北京市城乡居民最低生活保障实施细则", amended_by=["2024"]),
               _hit("n", DIBAO_2024, 1.8, "2024", "关于调整本市最低生活保障标准的通知", amends=["rules"])]
    extract = _answer(sparse, vocabulary, "北京低保现在一个月多少钱？", sources)
    assert extract.sentences[0].text == "一、本市低保标准从每人每月1395元调整为1450元。"
    assert len(extract.sentences) <= 3 and len(_text(extract)) <= 200


def test_headings_are_context_never_sentences(sparse, vocabulary):
    sources = [_hit("r", DIBAO_RULES, 2.0, "rules", "北京市城乡居民最低生活保障实施细则")]
    for question in ("低保标准是怎么定的？", "低保去哪儿申请？", "申请低保要带什么材料？"):
        quoted = _quoted(sparse, vocabulary, question, sources)
        assert quoted and not {"一、城乡低保标准", "四、申请"} & set(quoted)


def test_a_materials_question_gets_the_list_with_its_lead_in(sparse, vocabulary):
    sources = [_hit("r", DIBAO_RULES, 2.0, "rules", "北京市城乡居民最低生活保障实施细则")]
    quoted = _quoted(sparse, vocabulary, "申请低保需要准备哪些材料？", sources)
    assert quoted[0] == "（三）申请城乡低保应当提交以下材料："
    assert "2.本人和共同生活家庭成员的身份证和户口本原件；" in quoted


def test_a_who_question_gets_the_office(sparse, vocabulary):
    sources = [_hit("r", DIBAO_RULES, 2.0, "rules", "北京市城乡居民最低生活保障实施细则")]
    extract = _answer(sparse, vocabulary, "低保去哪儿申请？", sources)
    assert "街道办事处" in extract.sentences[0].text


def test_the_current_figure_comes_before_an_amended_one(sparse, vocabulary):
    old = _hit("o", OLD_SCHEME, 2.0, "2008", "北京市独生子女家庭特别扶助制度实施方案", amended_by=["2022"])
    new = _hit("n", NEW_SCHEME, 1.5, "2022", "关于调整计划生育特别扶助金标准的通知", amends=["2008"])
    question = "失独家庭每个月能领多少扶助金？"
    extract = _answer(sparse, vocabulary, question, [old, new])
    assert "900元" in extract.sentences[0].text
    # the same sources without the relation: the older document's figure would lead (the test can fail)
    plain = [_hit("o", OLD_SCHEME, 2.0, "2008", "北京市独生子女家庭特别扶助制度实施方案"),
             _hit("n", NEW_SCHEME, 1.5, "2022", "关于调整计划生育特别扶助金标准的通知")]
    assert "200元" in _answer(sparse, vocabulary, question, plain).sentences[0].text


def test_every_sentence_is_a_verbatim_span_with_its_offsets(sparse, vocabulary):
    sources = [_hit("r", DIBAO_RULES, 2.0, "rules", "北京市城乡居民最低生活保障实施细则")]
    for sentence in _answer(sparse, vocabulary, "申请低保需要准备哪些材料？", sources).sentences:
        citation = sentence.citations[0]
        assert DIBAO_RULES[citation.start:citation.end] == citation.quote == sentence.text


def _topic_answer(sparse, vocabulary, **options) -> str:
    # a budget that holds one of the two passages: the test is which one
    sources = [_hit("c1", f"{OPENING}\n{FOCUS}", 2.2)]
    sources += [_hit(f"o{n}", text, 1.0 - n / 10, doc_id=f"other{n}", title=text[:12]) for n, text in enumerate(OTHERS)]
    return _text(_answer(sparse, vocabulary, "农业农村部防控疫情专项法治宣传行动注重哪些方面？", sources,
                         clause_budget_chars=80, **options))


def test_a_question_about_measures_gets_the_clause_not_the_opening_that_repeats_the_title(sparse, vocabulary):
    # the opening shares every topic word with the question, but they are the title's words;
    # the answer is the clause with the question's own word, 注重
    assert "注重以案释法" in _topic_answer(sparse, vocabulary)


def test_without_title_awareness_the_opening_would_win(sparse, vocabulary):
    assert "注重以案释法" not in _topic_answer(sparse, vocabulary, title_term_weight=1.0)


# as 散居孤儿 benefits put it: an item that is a lead-in of its own list does not end the list
WELFARE_CARD = ("1.领取儿童福利证\n（1）孤儿或者其监护人向户籍所在地的街道办事处提出书面申请，并递交以下申请资料：\n"
                "①《北京市儿童福利证申请表》。\n②孤儿及其监护人的身份证、户口簿的原件及复印件。\n"
                "③父母双方情况证明的原件及复印件：\n父母死亡的，提交由原户籍所在地公安部门出具的死亡证明；\n"
                "父母服刑的，提交监狱管理部门出具的服刑证明。\n④孤儿本人银行账户。\n⑤近期半身免冠一寸彩色照片四张。\n"
                "（2）街道办事处收到申请后，应当调查核实，并报区民政部门审批。")


def test_a_list_goes_on_past_an_item_with_a_list_of_its_own(sparse, vocabulary):
    sources = [_hit("w", WELFARE_CARD, 2.0, "orphans", "关于调整散居孤儿基本生活费标准的通知")]
    question = "散居孤儿办儿童福利证，要带哪些东西？"
    quoted = _quoted(sparse, vocabulary, question, sources)
    assert quoted[-1] == "⑤近期半身免冠一寸彩色照片四张。" and "（2）" not in "".join(quoted)
    assert "父母服刑的，提交监狱管理部门出具的服刑证明。" in quoted  # the nested list fits the budget
    # with a tighter budget, the items come before the nested list
    tight = _quoted(sparse, vocabulary, question, sources, list_budget_chars=130)
    assert "⑤近期半身免冠一寸彩色照片四张。" in tight and "父母服刑的，提交监狱管理部门出具的服刑证明。" not in tight


# a list announced by a sentence that ends in "。", and an exception that reads with its item
ASSETS = ("（四）家庭财产认定标准\n1.家庭拥有应急之用的货币财产总额，人均应不超过24个月当年城乡低收入家庭认定标准之和。\n"
          "2.存在以下情况之一的，不符合给予因病致贫家庭医疗救助的条件。\n"
          "（1）家庭成员名下拥有机动车辆和大型农机具。拥有唯一机动车且该机动车用于长期就医等特殊情形的，可适当放宽认定条件。\n"
          "（2）家庭成员名下拥有及承租的住房达到两套及以上。")


def test_an_exception_comes_with_its_rule_and_the_list_with_its_lead_in(sparse, vocabulary):
    sources = [_hit("a", ASSETS, 2.0, "illness", "北京市因病致贫家庭医疗救助实施办法")]
    quoted = _quoted(sparse, vocabulary, "家里有辆车，还能申请因病致贫医疗救助吗？", sources)
    assert quoted[0] == "2.存在以下情况之一的，不符合给予因病致贫家庭医疗救助的条件。"
    # the rule and its exception are one item, one line, quoted as the document has it, after the lead-in
    item = "（1）家庭成员名下拥有机动车辆和大型农机具。拥有唯一机动车且该机动车用于长期就医等特殊情形的，可适当放宽认定条件。"
    assert quoted.index(item) == 1


# the materials are the list under a long lead-in, not the short sentence that names one in passing
INPATIENT = ("1.申请。事实无人抚养儿童因病住院治疗的，由其监护人向户籍所在地街道(乡镇)社会保障事务所提出出具"
             "《事实无人抚养儿童出院即时结算审查证明》的申请，同时提供以下材料：\n(1)定点医疗机构出具的住院通知单复印件；\n"
             "(2)罹患重大疾病的，提供诊断证明书复印件；\n(3)儿童本人银行账户信息。\n"
             "2.出具证明。申请人凭审查证明、住院通知单等，为儿童本人办理定点医疗机构住院手续。")


def test_a_materials_question_gets_the_list_not_a_passing_mention(sparse, vocabulary):
    sources = [_hit("i", INPATIENT, 2.0, "inpatient", "关于做好事实无人抚养儿童医疗保障工作的通知")]
    quoted = _quoted(sparse, vocabulary, "事实无人抚养的孩子住院，办出院即时结算得准备啥？", sources)
    assert quoted[0].endswith("同时提供以下材料：") and not quoted[0].startswith("1.申请。")
    assert quoted[-1] == "(3)儿童本人银行账户信息。"


REHABILITATION = ("第三条 本办法所称的残疾儿童，是指具有本市户籍，持有残疾人证的，年龄0—15周岁的残疾人。\n"
                  "第五条 符合本办法第三条规定的残疾儿童接受基本康复服务，均可按规定享受康复补贴。\n"
                  "第八条 残疾儿童康复申请由申请人户籍所在地的区残联审批。")


def test_an_age_question_gets_the_age(sparse, vocabulary):
    assert "age" in kinds_asked("残疾孩子康复补贴，多大的孩子能申请？")
    sources = [_hit("r", REHABILITATION, 2.0, "rehab", "北京市残疾儿童康复服务办法")]
    extract = _answer(sparse, vocabulary, "残疾孩子康复补贴，多大的孩子能申请？", sources)
    assert "0—15周岁" in extract.sentences[0].text


def test_another_programmes_list_of_materials_is_not_the_answer(sparse, vocabulary):
    dibao = _hit("d", "（一）申请城乡低保应当以家庭为单位，向户籍所在地街道办事处提出书面申请并提交相关材料。", 2.0,
                 "dibao", "北京市城乡居民最低生活保障实施细则")
    disability = _hit("s", "(二)申请两项补贴者需提供以下材料：\n1.《生活补贴申请审批表》；\n2.《身份证》或《户口簿》原件及复印件1份；\n"
                           "3.一寸同版彩色证件照3张。", 1.5, "disability", "北京市困难残疾人生活补贴和重度残疾人护理补贴制度实施办法")
    extract = _answer(sparse, vocabulary, "申请低保要准备哪些材料？", [dibao, disability])
    assert {c.doc_id for s in extract.sentences for c in s.citations} == {"dibao"}


def test_a_list_is_one_quote_with_one_citation_in_the_documents_order(sparse, vocabulary):
    sources = [_hit("r", DIBAO_RULES, 2.0, "rules", "北京市城乡居民最低生活保障实施细则")]
    extract = _answer(sparse, vocabulary, "申请低保需要准备哪些材料？", sources)
    lists = [s for s in extract.sentences if "\n" in s.text]
    assert lists, "the lead-in and its items are quoted as one span"
    quote = lists[0]
    assert len(quote.citations) == 1 and quote.citations[0].quote == quote.text
    lines = quote.text.split("\n")
    assert [line[:2] for line in lines[1:]] == ["1.", "2.", "3."][:len(lines) - 1]
    start, end = quote.citations[0].start, quote.citations[0].end
    assert end - start == len(quote.text), "the citation spans the whole list in the document"


def test_a_number_of_the_question_is_matched_to_the_range_that_holds_it():
    from app.answering.selector import range_match

    assert range_match([85], "1.80周岁至89周岁的老年人，津贴标准为每人每月100元；") == 1.0
    assert range_match([85], "2.90周岁至99周岁的老年人，津贴标准为每人每月500元；") == 0.0, "item 2 starts at 90"
    assert range_match([30000], "生活必需支出在2000元(含)到3万元(含)的，按照40%给予救助") == 1.0
    assert range_match([70], "年满60周岁以上的老年人") == 1.0 and range_match([50], "年满60周岁以上的老年人") == 0.0
    assert range_match([5000], "超过5000元的部分") == 0.5 and range_match([], "80周岁至89周岁") == 0.0


def test_the_tiers_of_a_standard_are_not_repeats_of_each_other():
    from app.answering.extractive import _repeats

    chosen = ["2.90周岁至99周岁的老年人，津贴标准为每人每月500元；"]
    assert not _repeats("1.80周岁至89周岁的老年人，津贴标准为每人每月100元；", chosen), "another figure is news"
    assert _repeats("90周岁至99周岁的老年人，津贴标准为每人每月500元", chosen)


# as in 京民养老发〔2019〕160号: two lists of tiers, each under an item whose run-in heading names it, no colon
ELDERLY_TIERS = ("(二)失能老年人护理补贴。发放给重度失能或持有相应残疾证的老年人，用于因生活自理能力缺失而产生的长期照护。\n"
                 "1.残疾等级为一级的视力、肢体残疾老年人，补贴标准为每人每月600元。\n"
                 "2.残疾等级为二级的视力、肢体残疾老年人，补贴标准为每人每月400元。\n"
                 "3.残疾等级为一级、二级的听力、言语残疾老年人，补贴标准为每人每月200元。\n"
                 "(三)高龄老年人津贴。发放给80周岁及以上的老年人，用于养老服务消费特别是生活照料护理服务。\n"
                 "1.80周岁至89周岁的老年人，津贴标准为每人每月100元；\n"
                 "2.90周岁至99周岁的老年人，津贴标准为每人每月500元；\n"
                 "3.100周岁及以上的老年人，津贴标准为每人每月800元。")


def test_an_item_numbered_into_its_figure_is_an_item():
    from app.answering.extractive import marker_style

    assert marker_style("2.90周岁至99周岁的老年人，津贴标准为每人每月500元；") == "num_dot", "item 2, from 90"
    assert marker_style("1.5倍以上的，按照…") is None, "a decimal opens no item"


def test_tiers_without_a_lead_in_read_as_their_list_titled_by_the_item_above(sparse, vocabulary):
    sources = [_hit("e", ELDERLY_TIERS, 2.0, "elderly", "北京市老年人养老服务补贴津贴管理实施办法")]
    extract = _answer(sparse, vocabulary, "我妈91岁了，高龄津贴能领多少？", sources)
    text = "\n".join(s.text for s in extract.sentences)
    assert "500元" in text, text
    lines = [line for s in extract.sentences for line in s.text.split("\n")]
    tiers = [line for line in lines if "周岁" in line and "津贴标准" in line]
    assert [t[:2] for t in tiers] == ["1.", "2.", "3."][:len(tiers)], "one tier a line, in the document's order"
    # the items of the 高龄 list carry its run-in heading as their context, as a lead-in's items do
    composer = ExtractiveComposer(question_kinds(), tokenize=sparse.tokens)
    terms = question_terms("高龄津贴", sparse.words("高龄津贴"), vocabulary)
    candidates = composer.candidates(sources, terms, None).sentences
    tier = next(c for c in candidates if c.text.startswith("2.90周岁"))
    hearing = next(c for c in candidates if c.text.startswith("3.残疾等级"))
    assert "(三)高龄老年人津贴。" in tier.context and "高龄" not in hearing.context.replace(
        "北京市老年人养老服务补贴津贴管理实施办法", "")
