"""The LLM composer against an OpenAI-compatible server on loopback that streams, stalls and fails."""

from __future__ import annotations

import time

import pytest

from app.clients.llm import CircuitBreaker, LLMClient, LLMUnavailable
from app.composition import build_services
from app.pipeline.context import AnswerContext
from tests.fake_llm import FakeLLM, source_number

QUESTION = "本市低保标准调整为多少"


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm_services(settings, embedder, small_corpus, fake):
    llm = settings.llm.model_copy(update={"base_url": fake.base_url, "read_timeout_s": 0.5, "backoff_s": 0.01,
                                          "max_retries": 1, "breaker_failures": 3, "breaker_cooldown_s": 60})
    services = build_services(settings.model_copy(update={"llm": llm}), embedder=embedder)
    services.indexer.sync([small_corpus])
    yield services
    services.close()


def _run(services, question=QUESTION):
    deltas: list[str] = []
    ctx = AnswerContext(question, listener=lambda event, data: deltas.append(data["text"]) if event == "delta" else None)
    return services.pipeline.run(ctx), deltas


def test_llm_answer_with_citations(llm_services, fake):
    fake.reply = lambda m: f"本市低保标准从每人每月1395元调整为1450元。[{source_number(m, '1450元')}]新标准从2024年7月施行。[{source_number(m, '1450元')}]"
    ctx, deltas = _run(llm_services)
    assert ctx.status == "answered" and ctx.composer == "llm" and not ctx.degraded
    assert ctx.prompt_version == "compose_answer/v3" and ctx.model == llm_services.settings.llm.model
    assert [s.text for s in ctx.sentences] == ["本市低保标准从每人每月1395元调整为1450元。", "新标准从2024年7月施行。"]
    assert len(deltas) == 2
    citation = ctx.sentences[0].citations[0]
    assert "1450元" in citation.quote and citation.doc_id == "bj-2024-minimum-living-allowance"
    prompt = fake.requests[0]["body"]["messages"]
    assert "每一句话的末尾都必须" in prompt[0]["content"] and QUESTION in prompt[1]["content"]
    audit = llm_services.audit.get(ctx.audit_id)["details"]
    assert audit["prompt_version"] == "compose_answer/v3" and audit["composer"] == "llm"


def test_hallucinated_citations_and_uncited_numbers_never_reach_the_user(llm_services, fake):
    fake.reply = lambda m: (f"本市低保标准调整为1450元。[{source_number(m, '1450元')}]"
                            "低保金每年还会额外发放3000元过节费。"  # uncited claim with a number
                            "此外可领取每月200元交通补贴。[42]"  # a source that does not exist
                            f"补贴标准为每人每月1600元。[{source_number(m, '1450元')}]")  # a number not in the source
    ctx, deltas = _run(llm_services)
    streamed = "".join(deltas)
    for claim in ("3000", "200元", "1600"):
        assert claim not in streamed and claim not in ctx.answer_text
    reasons = " ".join(d["reason"] for d in ctx.dropped)
    assert "no citation" in reasons and "[42]" in reasons and "1600" in reasons
    assert ctx.status == "answered" and [s.text for s in ctx.sentences] == ["本市低保标准调整为1450元。"]


def test_llm_saying_it_has_no_answer_is_a_refusal(llm_services, fake):
    fake.reply = lambda m: "现有资料中没有找到答案。"
    ctx, _ = _run(llm_services)
    assert ctx.status == "refused_no_evidence"


@pytest.mark.parametrize("mode", ["error", "stall"])
def test_llm_down_or_stalled_falls_back_to_extractive(llm_services, fake, mode):
    fake.mode = mode
    clock = time.perf_counter()
    ctx, deltas = _run(llm_services)
    assert ctx.status == "answered" and ctx.degraded and ctx.composer == "extractive"
    assert deltas and "1450" in ctx.answer_text
    assert len(fake.requests) == 2, "one retry, then the fallback"
    assert time.perf_counter() - clock < 5
    assert llm_services.audit.get(ctx.audit_id)["details"]["degraded_reason"]


def test_unreachable_llm_falls_back(settings, embedder, small_corpus):
    llm = settings.llm.model_copy(update={"base_url": "http://127.0.0.1:9/v1", "backoff_s": 0.01})
    services = build_services(settings.model_copy(update={"llm": llm}), embedder=embedder)
    try:
        services.indexer.sync([small_corpus])
        ctx, _ = _run(services)
        assert ctx.status == "answered" and ctx.degraded and "ConnectError" in ctx.degraded_reason
    finally:
        services.close()


def test_circuit_breaker_stops_calling_a_failing_llm(llm_services, fake):
    fake.mode = "error"
    for _ in range(3):
        assert _run(llm_services)[0].degraded
    calls = len(fake.requests)
    ctx, _ = _run(llm_services)
    assert ctx.degraded and "circuit breaker open" in ctx.degraded_reason
    assert len(fake.requests) == calls, "an open breaker does not call the LLM"


def test_failure_mid_stream_keeps_only_checked_sentences(llm_services, fake):
    fake.mode = "stream_error"
    fake.reply = lambda m: f"调整为1450元。[{source_number(m, '1450元')}]这句不会说完因为引擎会出错。"
    ctx, deltas = _run(llm_services)
    assert ctx.degraded and ctx.composer == "llm" and [s.text for s in ctx.sentences] == ["调整为1450元。"]


def test_cancel_stops_generation_and_is_recorded(llm_services, fake):
    fake.piece_delay_s = 0.05
    # sentences without figures (a "第1句" would have to be a figure of the source, and is dropped)
    fake.reply = lambda m: "".join(f"依据资料说明标准调整。[{source_number(m, '1450元')}]" for _ in range(1, 30))
    ctx = AnswerContext(QUESTION)
    ctx.listener = lambda event, data: ctx.cancel.set() if event == "delta" else None
    ctx = llm_services.pipeline.run(ctx)
    assert ctx.status == "cancelled"
    assert fake.disconnected.wait(10), "the LLM stream was never closed"
    assert fake.pieces_sent < 40, "the LLM stopped streaming when the client went away"
    assert llm_services.audit.get(ctx.audit_id)["status"] == "cancelled"


def test_breaker_half_opens_after_cooldown():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=lambda: now[0])
    breaker.failure()
    breaker.failure()
    assert breaker.open
    now[0] = 11
    assert not breaker.open
    breaker.failure()
    assert breaker.open


def test_client_reports_http_errors(fake):
    fake.mode = "error"
    client = LLMClient(fake.base_url, "m", max_retries=0)
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        list(client.stream_chat([{"role": "user", "content": "hi"}]))


def test_follow_up_is_rewritten_by_the_llm(llm_services, fake):
    def reply(messages):
        if "改写" in messages[0]["content"]:
            return "北京市养老服务补贴津贴的申请流程是什么？"
        return f"申请人可以登录北京市政务服务网填报申请。[{source_number(messages, '填报申请')}]"

    fake.reply = reply
    ctx = AnswerContext("那申请流程呢？", history=[{"question": "养老服务补贴津贴有哪些"}])
    ctx = llm_services.pipeline.run(ctx)
    assert ctx.rewritten == "北京市养老服务补贴津贴的申请流程是什么？"
    assert "那申请流程呢" in fake.requests[0]["body"]["messages"][1]["content"]


def test_rewrite_falls_back_to_the_rule_when_the_llm_fails(llm_services, fake):
    fake.mode = "error"
    ctx = llm_services.pipeline.run(AnswerContext("那申请流程呢？", history=[{"question": "养老服务补贴津贴有哪些"}]))
    assert ctx.rewritten == "养老服务补贴津贴，申请流程呢?" and ctx.degraded


def test_a_question_the_sources_cannot_answer_never_reaches_the_llm(llm_services, fake):
    # the answerability decision guards the LLM path as it guards the extractive one
    ctx, deltas = _run(llm_services, "结婚登记需要带什么材料？")
    assert ctx.status == "refused_no_evidence" and not deltas
    assert fake.requests == []


def test_the_prompt_says_which_sources_a_newer_document_amended(llm_services):
    steps = {step.name: step for step in llm_services.pipeline.steps}
    ctx = AnswerContext("北京低保标准是多少")
    for name in ("check_question", "rewrite_question", "read_question", "retrieve"):
        steps[name](ctx)
    ctx.sources[0].document["amended_by_documents"] = [{"title": "新通知", "doc_number": "京民社救发〔2030〕1号",
                                                        "amend_from": "2030-07-01"}]
    prompt = steps["compose_answer"].llm.messages(ctx.search_question, ctx.sources)[1]["content"]
    assert "（其中的标准已由《新通知》（京民社救发〔2030〕1号）自2030-07-01起调整）" in prompt
    assert prompt.count("其中的标准已由") == 1, "only the amended source carries the note"


@pytest.mark.parametrize("wrong", ["每人每月一千五百元", "每人每月一千四百元", "从二〇二三年7月起", "提高了百分之十"])
def test_a_figure_the_sources_do_not_state_is_dropped_in_any_notation(llm_services, fake, wrong):
    """Chinese numerals are read as figures: a wrong amount, year or percentage written in them is
    caught as one written in digits is; the right figure in Chinese numerals passes."""
    fake.reply = lambda m: (f"本市低保标准调整为每人每月一千四百五十元。[{source_number(m, '1450元')}]"
                            f"标准{wrong}。[{source_number(m, '1450元')}]")
    ctx, deltas = _run(llm_services)
    assert [s.text for s in ctx.sentences] == ["本市低保标准调整为每人每月一千四百五十元。"]
    assert wrong not in "".join(deltas) and wrong not in ctx.answer_text
    assert any("not in the cited source" in d["reason"] for d in ctx.dropped)


def test_the_prompt_names_what_is_asked_and_the_selected_clauses(llm_services, fake):
    fake.reply = lambda m: f"本市低保标准调整为1450元。[{source_number(m, '1450元')}]"
    ctx, _ = _run(llm_services, "北京低保现在每个月多少钱？")
    system, user = (message["content"] for message in fake.requests[0]["body"]["messages"])
    assert "金额、比例或标准" in system, "the kind asked, in Chinese"
    hints = user.split("与问题最相关的原文")[1]
    assert "1450元" in hints, "the extractive selector's sentence is a hint"
    assert "另一个年份" in system, "the refusal rule for another year's or programme's figures"


def test_figures_are_read_in_every_notation():
    from app.answering.support import figure_mentions, figures

    assert [v for _, v in figure_mentions("每人每月一千四百五十元，百分之五十，二〇二四年，两千元")] == \
        ["1450", "50", "2024", "2000"]
    assert figure_mentions("一般情况下统一发放，一律不得") == [], "words with 一 in them state no figure"
    assert {"1450", "50", "2024"} <= figures("标准为1450元，按50%报销，自2024年起")
    assert "1450" in figures("标准为一千四百五十元"), "a source in Chinese numerals states its figure too"


def test_a_figure_is_matched_whole_not_inside_a_longer_one():
    """"145元" is not stated by a source that says 1450元 (a substring check let it pass)."""
    from app.answering.support import unsupported_reason
    from app.domain import AnswerSentence, Citation, SearchHit

    hit = SearchHit("c1", "d1", 1.0, "本市低保标准从每人每月1395元调整为1450元。", 0, 24, [], {})
    def sentence(text):
        return AnswerSentence(text, [Citation(1, "d1", "c1", hit.text, 0, 24)])
    assert unsupported_reason(sentence("低保标准为每人每月145元。"), [hit]) == "not in the cited source: 145"
    assert unsupported_reason(sentence("低保标准为每人每月1450元。"), [hit]) is None
