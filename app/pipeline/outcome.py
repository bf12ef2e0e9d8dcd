"""What an answer run comes to, shaped once for every surface that shows it: the chat API and CLI
(ChatResponse) and the reply draft of a routing suggestion. A refusal shows its canned reply
(policies/answer_statuses.yml) and no sentences or sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain import AnswerSentence, SearchHit
from app.pipeline.context import AnswerContext
from app.policy_data import status as answer_status


@dataclass
class AnswerOutcome:
    status: str
    refusal: bool
    answer: str  # the answer with [n] markers, or the refusal's reply
    notice: str | None = None
    sentences: list[AnswerSentence] = field(default_factory=list)
    sources: list[tuple[int, SearchHit]] = field(default_factory=list)  # (number, hit) of each cited source
    degraded: bool = False
    composer: str | None = None
    rewritten_question: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    audit_id: str | None = None


def answer_outcome(ctx: AnswerContext) -> AnswerOutcome:
    info = answer_status(ctx.status or "error")
    return AnswerOutcome(
        status=info.name, refusal=info.refusal, answer=(info.reply or "") if info.refusal else ctx.answer_text,
        notice=ctx.notice, sentences=[] if info.refusal else list(ctx.sentences),
        sources=[] if info.refusal else ctx.cited_sources(), degraded=ctx.degraded, composer=ctx.composer,
        rewritten_question=ctx.rewritten, timings_ms=dict(ctx.timings_ms), audit_id=ctx.audit_id)
