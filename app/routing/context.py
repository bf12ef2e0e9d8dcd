"""The one object the routing pipeline's steps read and write (app/routing/steps.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.pipeline.outcome import AnswerOutcome
from app.routing.classifier import Ticket
from app.routing.places import Places
from app.routing.results import CategoryGuess, DepartmentCandidate, Evidence, SimilarTicket
from app.routing.trained import TrainedRouting


@dataclass
class TicketContext:
    text_raw: str
    address_raw: str | None = None
    channel: str = "hotline"
    agent: str | None = None
    draft_reply: bool = True
    actor: str | None = None  # who asked, as the audit log names them (role and key)
    # check_ticket
    problem: str | None = None  # why the ticket cannot be routed (status invalid_ticket)
    # mask
    ticket: Ticket | None = None  # personal data masked: the only form used or stored from here on
    address: str | None = None
    personal_data: dict[str, int] = field(default_factory=dict)
    # find_place
    place: Places = field(default_factory=Places)
    # classify
    trained: TrainedRouting | None = None  # the model in force when the ticket arrived (it may be reloaded)
    vector: np.ndarray | None = None  # its passage embedding: what it is compared with tickets and departments by
    category: CategoryGuess | None = None
    category_probabilities: dict[str, float] = field(default_factory=dict)  # every class of the model
    review_reasons: list[str] = field(default_factory=list)
    # rank_departments
    similar: list[SimilarTicket] = field(default_factory=list)
    ranked: list[DepartmentCandidate] = field(default_factory=list)
    # ask_llm
    llm_note: str | None = None
    # choose
    chosen: list[DepartmentCandidate] = field(default_factory=list)
    # gather_evidence
    evidence: Evidence = field(default_factory=Evidence)
    # draft_reply
    reply_draft: AnswerOutcome | None = None
    # record
    suggestion_id: str | None = None
    audit_id: str | None = None
    # outcome
    status: str | None = None  # invalid_ticket | error | suggested
    error: str | None = None
    left_out: list[str] = field(default_factory=list)  # optional steps that failed, and why
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def stopped(self) -> bool:
        return self.status is not None

    def stop(self, status: str) -> None:
        self.status = status

    def leave_out(self, step: str, why: str) -> None:
        self.left_out.append(f"{step}: {why}")
