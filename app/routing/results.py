"""What routing returns: a suggestion and its parts, typed. The API declares the parts as they are
(pydantic reads dataclasses; the descriptions are for its OpenAPI document) and validates its
`Suggestion` from these (app/api/routes_tickets.py); the store keeps `Suggestion.as_record()`."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Any

from pydantic import Field

from app.pipeline.outcome import AnswerOutcome
from app.routing.catalogue import Department
from app.routing.places import Places


@dataclass(frozen=True)
class CategoryAlternative:
    level1: str
    probability: float


@dataclass(frozen=True)
class CategoryGuess:
    level1: str
    level2: str | None
    level3: str | None
    confidence: float
    alternatives: list[CategoryAlternative]  # the next classes (with the project's tree: "level 1/level 2")
    label: Annotated[str | None, Field(description="The model's class: what a decision's category is stored as and "
                                                   "trained on (\"住房/物业管理\" with the project's tree, the "
                                                   "level-1 category with the competition's).")] = None


@dataclass
class DepartmentCandidate:
    """A department ranked for a ticket; `role` and `confidence` are set when it is chosen."""

    department: Department
    score: float
    signals: dict[str, float]
    matched_keywords: list[str]
    responsibilities: list[str]  # the clauses behind it
    role: str | None = None  # 主办 | 协办
    confidence: float | None = None

    def chosen(self, role: str, confidence: float | None) -> "DepartmentCandidate":
        return replace(self, role=role, confidence=confidence)


@dataclass(frozen=True)
class SimilarTicket:
    """A ticket this hotline has decided, shown to the agent as precedent: what the caller said (masked),
    who led it and how the agent came to it."""

    text: str
    similarity: float
    department: Annotated[str, Field(description="The lead handler the agent chose.")]
    action: Annotated[str, Field(description="accept (the suggested lead kept) | override (another chosen)")]
    suggested: Annotated[str, Field(description="The lead handler the suggestion had named.")]
    category: str | None
    decided_at: dt.datetime


@dataclass(frozen=True)
class PolicyEvidence:
    doc_id: str
    chunk_id: str
    title: str | None
    doc_number: str | None
    validity: str | None
    quote: str
    start: int
    end: int
    score: float
    # True: a clause the reply draft quotes (the answer pipeline judged it answers the ticket's question);
    # False: a passage only nearest the ticket in words, shown when no draft was asked for
    judged: bool = True


@dataclass
class Evidence:
    similar_tickets: list[SimilarTicket] = field(default_factory=list)
    policies: list[PolicyEvidence] = field(default_factory=list)


@dataclass(frozen=True)
class ModelInfo:
    version: str
    trained_on: int
    review_threshold: float | None
    trained_at: Annotated[str | None, Field(description="When the category model was fitted (jingce train routing).")] = None
    llm: Annotated[str | None, Field(description="What the LLM contributed (picked, ignored, unavailable); null "
                                                 "without one.")] = None


@dataclass
class Suggestion:
    id: str
    audit_id: str
    ticket: str  # masked
    personal_data: dict[str, int]
    place: Places
    category: CategoryGuess | None
    departments: list[DepartmentCandidate]  # 主办 first
    needs_review: bool
    review_reasons: list[str]
    evidence: Evidence
    reply_draft: AnswerOutcome | None
    model: ModelInfo
    left_out: list[str]  # what could not be done ("gather_evidence: …") — the suggestion stands without it
    timings_ms: dict[str, float]

    @property
    def lead(self) -> DepartmentCandidate:
        return self.departments[0]

    def as_record(self) -> dict[str, Any]:
        """The suggestion as stored (JSON): the reply draft by its status and audit event only — the
        answer is an audit event of its own."""
        record = asdict(replace(self, reply_draft=None))
        for choice in record["departments"]:
            dept = choice["department"]
            choice["department"] = {k: dept[k] for k in ("id", "name", "short", "kind", "source")}
        for ticket in record["evidence"]["similar_tickets"]:
            ticket["decided_at"] = ticket["decided_at"].isoformat()
        if self.reply_draft is not None:
            record["reply_draft"] = {"status": self.reply_draft.status, "audit_id": self.reply_draft.audit_id}
        return record
