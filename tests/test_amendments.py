"""Current figures: which documents amend an earlier one's standard, the relation the lookup API
shows, and answers that give the current figure first."""

from __future__ import annotations

from app.config import REPO_ROOT
from app.domain import SearchFilters, SearchHit
from app.pipeline.context import AnswerContext, AnswerSentence, Citation
from app.pipeline.steps import CheckAnswer
from ingestion.amendments import find_amendment, link_amendments
from ingestion.loaders import load_file

BEIJING = REPO_ROOT / "policies" / "beijing"


def _doc(name: str):
    return load_file(BEIJING / f"{name}.txt", 2**26).documents[0]


def _payload(doc) -> dict:
    amendment = find_amendment(doc.title, doc.body, doc.effective)
    return {"doc_id": doc.doc_id, "title": doc.title, "published": doc.published, "effective": doc.effective,
            "programmes": doc.programmes, "amend_subjects": amendment.subjects if amendment else [],
            "amend_from": amendment.applies_from if amendment else None,
            "amend_explicit": amendment.explicit if amendment else False}


def test_a_change_statement_and_an_adjusting_title_make_an_amending_document():
    dibao = _doc("bj-2024-minimum-living-allowance")  # 本市低保标准从每人每月1395元调整为1450元
    found = find_amendment(dibao.title, dibao.body, dibao.effective)
    assert found.explicit and "最低生活保障标准" in found.subjects and found.applies_from == "2024-07-01"
    special = _doc("bj-2022-family-planning-special-assistance")  # 由每人每月590元、720元提高到…
    found = find_amendment(special.title, special.body, special.effective)
    assert found.explicit and found.applies_from == "2022-07-01"


def test_rules_that_only_state_figures_are_not_amending():
    rules = _doc("bj-2018-dibao-rules")
    assert find_amendment(rules.title, rules.body, rules.effective) is None
    assert find_amendment("关于印发《某某办法》的通知", "第一条 补贴标准为每人每月300元。") is None


def test_links_follow_programmes_and_titles_and_only_point_back_in_time():
    names = ["bj-2008-only-child-death-assistance", "bj-2009-only-child-disability-assistance",
             "bj-2022-family-planning-special-assistance", "bj-2018-dibao-rules", "bj-2024-minimum-living-allowance",
             "bj-2011-orphan-basic-living", "bj-2026-distressed-children-living", "bj-2019-elderly-subsidy"]
    links = link_amendments([_payload(_doc(n)) for n in names])
    assert links["bj-2024-minimum-living-allowance"]["amends"] == ["bj-2018-dibao-rules"]
    assert links["bj-2022-family-planning-special-assistance"]["amends"] == [
        "bj-2008-only-child-death-assistance", "bj-2009-only-child-disability-assistance"]
    assert "bj-2011-orphan-basic-living" in links["bj-2026-distressed-children-living"]["amends"]
    # a sibling scheme of the same programme is not an amendment, nor is an unrelated document
    assert links["bj-2009-only-child-disability-assistance"]["amends"] == []
    assert links["bj-2019-elderly-subsidy"] == {"amends": [], "amended_by": []}
    assert links["bj-2018-dibao-rules"]["amended_by"] == ["bj-2024-minimum-living-allowance"]


def test_the_index_keeps_the_relation_and_the_lookup_api_shows_it(bundled_client):
    body = bundled_client.get("/v1/policies/bj-2018-dibao-rules").json()
    related = {(r["relation"], r["document"]["doc_id"]) for r in body["related"]}
    assert ("amended_by", "bj-2024-minimum-living-allowance") in related
    newer = bundled_client.get("/v1/policies/bj-2024-minimum-living-allowance").json()
    assert ("amends", "bj-2018-dibao-rules") in {(r["relation"], r["document"]["doc_id"]) for r in newer["related"]}


def test_answers_give_the_current_figure(bundled_services):
    for question, current, outdated in [("北京低保现在一个月多少钱？", "1450元", None),
                                        ("独生子女死亡的家庭每月能领多少扶助金？", "900元", "200元"),
                                        ("孤儿的生活费现在每月多少？", "2850元", "1600元")]:
        ctx = bundled_services.pipeline.run(AnswerContext(question, filters=SearchFilters()))
        assert ctx.status == "answered", (question, ctx.status)
        body = "".join(s.text for s in ctx.sentences)
        assert current in body, (question, ctx.answer_text)
        if outdated:
            assert outdated not in body.split(current)[0], "the outdated figure never comes first"


def _source_with(ctx: AnswerContext, doc_id: str, phrase: str) -> tuple[int, SearchHit]:
    """The number and the retrieved chunk of `doc_id` that holds `phrase`."""
    return next((n, h) for n, h in enumerate(ctx.sources, 1) if h.doc_id == doc_id and phrase in h.text)


def _check_quote(ctx: AnswerContext, number: int, hit: SearchHit, start: int, length: int) -> None:
    """Makes the answer one quote of `hit` (cited as the composer cites) and runs the answer check on it."""
    quote = hit.text[start:start + length]
    ctx.sentences = [AnswerSentence(quote, [Citation(number, hit.doc_id, hit.chunk_id, quote, hit.start + start,
                                                     hit.start + start + length)])]
    ctx.status, ctx.notice = None, None
    CheckAnswer()(ctx)


def test_an_outdated_figure_quoted_from_an_amended_document_names_the_newer_one(bundled_services):
    ctx = bundled_services.pipeline.run(AnswerContext("独生子女死亡的家庭每月能领多少扶助金？"))
    number, hit = _source_with(ctx, "bj-2008-only-child-death-assistance", "200元")
    _check_quote(ctx, number, hit, hit.text.index("由政府给予每人每月200元"), 14)
    assert ctx.status == "answered"
    assert "京人口发〔2008〕53号" in ctx.notice and "京卫家庭〔2022〕19号" in ctx.notice
    assert "自2022年7月1日起执行" in ctx.notice
    # the hotline's answer scripts on the same standard restate it; they are not named as what changed it
    assert "《" not in ctx.notice.split("调整")[0].split("已由")[1], ctx.notice
    # a rule of the same document without a figure needs no such notice
    _check_quote(ctx, number, hit, 0, 12)
    assert not ctx.notice or "京卫家庭" not in ctx.notice


def test_a_share_the_newer_document_states_again_is_not_named_as_changed(bundled_services):
    # 京民福发〔2016〕228号 gives a sick or disabled child of a 低保 family 40% of a standard; the 2026 notice
    # that amends it states the same 40% again: nothing the quoted sentence says has changed
    ctx = bundled_services.pipeline.run(AnswerContext("低保家庭的残疾孩子能领多少生活费？"))
    assert any(h.doc_id == "bj-2026-distressed-children-living" and "40%" in h.text for h in ctx.sources)
    number, hit = _source_with(ctx, "bj-2016-distressed-children-classification", "标准的40%")
    _check_quote(ctx, number, hit, hit.text.index("按照事实无人抚养儿童生活费标准的40%"), 25)
    assert ctx.status == "answered"
    assert not ctx.notice or "调整" not in ctx.notice, ctx.notice


def test_a_figure_changes_only_in_its_own_unit():
    from app.answering.extractive import changes_figure

    assert changes_figure("每人每月1400元", "每人每月2400元")
    assert not changes_figure("标准的40%发放", "标准的40%发放生活费")
    assert not changes_figure("支付比例为75%", "每人每年缴费380元")  # a rate is not changed by a fee
    assert not changes_figure("1.2万元以下", "12000元以下")


def test_a_document_of_unknown_validity_is_named_by_its_number_in_one_short_line(bundled_services):
    ctx = bundled_services.pipeline.run(AnswerContext("孩子上小学，个税专项附加扣除每个月能扣多少？"))
    assert ctx.status == "answered" and "1000元" in ctx.answer_text
    assert ctx.notice == "提示：国发〔2018〕41号的效力状态未知，请向发文机关核实。", ctx.notice
