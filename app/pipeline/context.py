"""The one object the answer pipeline's steps read and write."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from app.domain import AnswerSentence, Citation, SearchFilters, SearchHit  # noqa: F401 — re-exported
from app.vocabulary import TermGroup
from app.policy_data import answer_statuses


@dataclass
class AnswerContext:
    question_raw: str
    session_id: str | None = None
    channel: str = "api"
    actor: str | None = None  # who asked, as the audit log names them (role and key, or anonymous)
    filters: SearchFilters = field(default_factory=SearchFilters)
    # check_question
    question: str = ""  # cleaned and masked: the only form stored or sent on
    personal_data: dict[str, int] = field(default_factory=dict)
    guardrail: str | None = None
    # rewrite_question
    history: list[dict[str, str]] = field(default_factory=list)
    rewritten: str | None = None
    # read_question
    kinds: list[str] = field(default_factory=list)  # what it asks for: amount, deadline, who, … (first = main)
    terms: list[TermGroup] = field(default_factory=list)  # its words, each with the words meaning the same
    turn_terms: list[TermGroup] = field(default_factory=list)  # … of the question as asked in this turn (a
    # follow-up's own words, without the subject it carries over)
    topic_terms: list[TermGroup] = field(default_factory=list)  # … those that name what it is about (its nouns)
    topic_phrases: list[TermGroup] = field(default_factory=list)  # the names it uses whole ("个人养老金账户")
    # match_knowledge
    knowledge: str | None = None  # the doc id of the hotline knowledge entry that answers the question
    knowledge_similarity: float | None = None  # the closest entry's cosine to the question, matched or not
    # retrieve
    sources: list[SearchHit] = field(default_factory=list)
    best_dense: float = 0.0  # cosine of the question to the closest chunk: how on-topic the corpus is
    best_signals: dict[str, float] = field(default_factory=dict)  # best raw score of each retrieval signal
    # extract_answer
    extract: Any = None  # the extractive composition (app.answering.extractive.Extract): answer and evidence
    # judge_answerability
    evidence: dict[str, float] = field(default_factory=dict)  # the features the decision read
    answerable: float | None = None  # the calibrated probability that the sources answer the question
    # compose_answer
    sentences: list[AnswerSentence] = field(default_factory=list)
    composer: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    degraded: bool = False
    notice: str | None = None  # e.g. the validity warning put before the answer
    # check_answer
    dropped: list[dict[str, Any]] = field(default_factory=list)
    degraded_reason: str | None = None
    # streaming: the API's listener gets ("sources", …) and ("delta", …) events as they happen
    listener: Callable[[str, dict[str, Any]], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    # outcome
    status: str | None = None
    error: str | None = None
    retryable: bool = False  # the error was a part being unreachable (the store): try again later
    left_out: list[str] = field(default_factory=list)  # optional steps that failed, and why
    timings_ms: dict[str, float] = field(default_factory=dict)
    audit_id: str | None = None

    @property
    def stopped(self) -> bool:
        return self.status is not None

    def stop(self, status: str) -> None:
        # a status policies/answer_statuses.yml does not name would reach a resident with no reply for it
        if status not in answer_statuses():
            raise ValueError(f"answer status {status!r} is not in policies/answer_statuses.yml")
        self.status = status

    def leave_out(self, step: str, why: str) -> None:
        self.left_out.append(f"{step}: {why}")

    def emit(self, event: str, data: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(event, data)

    @property
    def search_question(self) -> str:
        return self.rewritten or self.question

    @property
    def answer_text(self) -> str:
        body = "".join(("\n" if s.line_break else "") + s.text + "".join(f"[{c.number}]" for c in s.citations)
                       for s in self.sentences)
        return f"{self.notice}\n{body}" if self.notice and body else body

    def cited_sources(self) -> list[tuple[int, SearchHit]]:
        numbers = sorted({c.number for s in self.sentences for c in s.citations})
        return [(n, self.sources[n - 1]) for n in numbers if 0 < n <= len(self.sources)]
