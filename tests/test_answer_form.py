"""What an answer over the bundled corpus looks like to a resident: another year's rules are not passed
off as this year's, citations are numbered in the order they are used, a list keeps its items in the
document's order, and the amendment notice appears only beside the figure it concerns."""

from __future__ import annotations

import pytest

from app.domain import SearchFilters
from app.pipeline.context import AnswerContext


def _ask(services, question: str, history: list[str] | None = None, kind: str | None = None) -> AnswerContext:
    return services.pipeline.run(AnswerContext(question, filters=SearchFilters(kind=kind),
                                               history=[{"question": h} for h in history or []]))


def test_another_years_schedule_never_answers(bundled_services):
    ctx = _ask(bundled_services, "2026年国庆节放几天假？")
    assert ctx.status == "refused_other_year", ctx.answer_text
    assert ctx.guardrail.startswith("other_year: 2026")
    assert _ask(bundled_services, "2019年国庆节放几天假？").status == "answered"


def test_a_year_the_asker_lived_is_not_the_year_asked_about(bundled_services):
    ctx = _ask(bundled_services, "我大姨是1931年出生的，她唯一的儿子前几年走了，她还能申请失独扶助吗？")
    assert ctx.status != "refused_other_year"


@pytest.mark.parametrize("question", ["北京低保现在一个月多少钱？", "申请低保要准备哪些材料？",
                                      "失业金去哪儿领？", "孤儿的生活费现在每月多少？"])
def test_citations_are_numbered_in_the_order_they_are_first_used(bundled_services, question):
    ctx = _ask(bundled_services, question)
    assert ctx.status == "answered", ctx.status
    numbers = list(dict.fromkeys(c.number for s in ctx.sentences for c in s.citations))
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    for sentence in ctx.sentences:  # each number still points at the source it quotes
        for c in sentence.citations:
            assert c.quote in ctx.sources[c.number - 1].text and ctx.sources[c.number - 1].doc_id == c.doc_id


def test_a_list_reads_in_the_documents_order_with_one_citation(bundled_services):
    # the policy itself (kind=policy): the seed knowledge base has an answer script for this question
    ctx = _ask(bundled_services, "申请低保要准备哪些材料？", kind="policy")
    listed = [s for s in ctx.sentences if "\n" in s.text]
    assert listed, ctx.answer_text
    markers = [line.split(".")[0] for line in listed[0].text.split("\n")[1:] if line[:1].isdigit()]
    assert markers == sorted(markers, key=int) and len(set(markers)) == len(markers)
    assert ctx.answer_text.count("[") == sum(len(s.citations) for s in ctx.sentences)


def test_the_amendment_notice_only_beside_the_amended_figure(bundled_services):
    current = _ask(bundled_services, "北京低保现在一个月多少钱？")
    assert "1450元" in current.answer_text and not current.notice, "the current figure needs no notice"
    rule = _ask(bundled_services, "申请低保要准备哪些材料？")
    assert not rule.notice or "调整" not in rule.notice, "a rule of an amended document quotes no amended figure"


def test_a_clause_answer_opens_with_the_best_passage_and_its_list_each_paragraph_a_line(bundled_services):
    ctx = _ask(bundled_services, "残疾人两项补贴怎么申请？")
    assert ctx.status == "answered"
    lines = [line for line in ctx.answer_text.split("\n") if line and not line.startswith(("注意：", "提示："))]
    assert lines[0].startswith("(二)申请两项补贴者需提供以下材料："), lines[:3]
    assert [line[:2] for line in lines[1:7]] == ["1.", "2.", "3.", "4.", "5.", "6."], lines[:8]
    # the paragraph of another list that is quoted too comes after this one, on a line of its own
    assert all(i > 6 for i, line in enumerate(lines) if line.startswith("4.残疾人两项补贴不计入")), lines
