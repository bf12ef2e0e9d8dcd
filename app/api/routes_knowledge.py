"""The hotline knowledge base at the desk: propose an entry (an agent: a question and its answer
script, or the reply draft of a suggestion they accepted or edited), approve or reject it (a
reviewer: admin), list and search. An approved entry answers `/v1/chat` at once. Every step is an
audit event (kind `knowledge`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.api.deps import ServicesDep
from app.api.problems import ProblemError, problem_responses
from app.api.schemas import StoredTime
from app.knowledge.store import NotProposed
from ingestion.errors import IngestError

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
ENTRY_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class BasisIn(BaseModel):
    doc_id: str | None = Field(None, max_length=200, description="The policy's doc id in the index.")
    doc_number: str | None = Field(None, max_length=100, description="Its 文号, e.g. 京民社救发〔2024〕80号.")


class ProposeRequest(BaseModel):
    question: str = Field(min_length=2, max_length=500, description="What callers ask, in their words.")
    answer: str = Field(min_length=2, max_length=4000, description="The answer script (答复口径).")
    department: str | None = Field(None, max_length=64, description="The responsible body's handler id "
                                   "(GET /v1/tickets/departments).")
    basis: list[BasisIn] = Field(default_factory=list, max_length=20, description="The policies it rests on.")
    category: list[str] = Field(default_factory=list, max_length=2, description="[level 1, level 2] of "
                                "policies/hotline/categories.yml.")
    district: str | None = Field(None, max_length=16)
    street: str | None = Field(None, max_length=32)
    effective: dt.date | None = None
    review_by: dt.date | None = Field(None, description="After this day the entry no longer answers.")
    source: Literal["faq", "official_reply", "agent_reply"] = "agent_reply"
    suggestion_id: str | None = Field(None, max_length=36, description="The routing suggestion whose reply draft "
                                      "it was made from.")


class ReviewRequest(BaseModel):
    note: str | None = Field(None, max_length=2000, description="Why (shown to the proposer, kept in the audit log).")


class EntryOut(BaseModel):
    id: str
    question: str
    answer: str
    department: str | None
    category: list[str]
    district: str | None
    street: str | None
    basis: list[dict[str, str | None]]
    effective: str | None
    review_by: str | None
    source: str
    state: str = Field(description="proposed (待审核) | approved (已通过) | rejected (已驳回)")
    suggestion_id: str | None = None
    proposed_by: str | None = None
    proposed_at: StoredTime | None = None
    reviewed_by: str | None = None
    reviewed_at: StoredTime | None = None
    review_note: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "EntryOut":
        return cls(**{k: row.get(k) for k in cls.model_fields})


def _who(request: Request) -> str | None:
    caller = request.state.caller
    return caller.key.name[:128] if caller.key else None


@router.post("", response_model=EntryOut, status_code=201, responses=problem_responses(400, 422),
             summary="Propose a knowledge entry (it answers once a reviewer approves it)")
async def propose(body: ProposeRequest, request: Request, services: ServicesDep) -> Any:
    record = body.model_dump(mode="json", exclude={"suggestion_id"})
    try:
        row = await run_in_threadpool(services.knowledge.propose, record, _who(request), body.suggestion_id,
                                      "hotline", request.state.caller.actor)
    except IngestError as exc:
        raise ProblemError(422, str(exc), field="department", location="body") from None
    request.state.audited = True
    return EntryOut.of(row)


@router.get("", response_model=list[EntryOut], responses=problem_responses(422),
            summary="List and search the entries proposed at the desk")
async def listing(services: ServicesDep,
                  state: Annotated[Literal["proposed", "approved", "rejected"] | None, Query()] = None,
                  q: Annotated[str | None, Query(max_length=100, description="Words of the question or answer.")] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    rows = await run_in_threadpool(services.knowledge.listing, state, q, limit)
    return [EntryOut.of(r) for r in rows]


async def _review(entry_id: str, approve: bool, body: ReviewRequest | None, request: Request,
                  services: ServicesDep) -> Any:
    try:
        row = await run_in_threadpool(services.knowledge.review, entry_id, approve, _who(request),
                                      body.note if body else None, "hotline", request.state.caller.actor)
    except KeyError:
        raise ProblemError(404, f"no knowledge entry {entry_id!r}", field="entry_id", location="path") from None
    except NotProposed as exc:
        raise ProblemError(409, f"the entry is {exc} already", field="entry_id", location="path") from None
    request.state.audited = True
    return EntryOut.of(row)


@router.post("/{entry_id}/approve", response_model=EntryOut, responses=problem_responses(400, 404, 409, 422),
             summary="Approve a proposed entry: it is indexed and answers at once")
async def approve(request: Request, services: ServicesDep,
                  entry_id: Annotated[str, Path(max_length=64, pattern=ENTRY_ID)],
                  body: ReviewRequest | None = None) -> Any:
    return await _review(entry_id, True, body, request, services)


@router.post("/{entry_id}/reject", response_model=EntryOut, responses=problem_responses(400, 404, 409, 422),
             summary="Reject a proposed entry")
async def reject(request: Request, services: ServicesDep,
                 entry_id: Annotated[str, Path(max_length=64, pattern=ENTRY_ID)],
                 body: ReviewRequest | None = None) -> Any:
    return await _review(entry_id, False, body, request, services)
