"""Hotline ticket routing: suggest (POST /v1/tickets/route), decide (POST /v1/tickets/{id}/decision),
agreement statistics (GET /v1/tickets/stats). Suggestions and decisions are audit events."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator

from app.api.deps import ServicesDep
from app.api.operations import SUGGESTIONS
from app.api.reads import record_read
from app.api.problems import PATTERN_HINTS, ProblemError, problem_responses
from app.api.schemas import ChatResponse, StoredTime
from app.domain import in_utc
from app.routing.catalogue import departments
from app.routing.places import Places
from app.routing.results import CategoryGuess, Evidence, ModelInfo, Suggestion as RoutedSuggestion
from app.routing.service import ConflictingDecision, InvalidTicket, UnknownDepartment
from app.routing.store import AlreadyDecided

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
# what an agent types into identifiers: never markup (`<img src=x onerror=…>` was stored as given)
AGENT_ID = r"^[A-Za-z0-9._@-]{1,64}$"
CATEGORY = r"^[\u4e00-\u9fffA-Za-z0-9、·（）()/]{1,32}$"
PATTERN_HINTS.update({"agent": "letters, digits and . _ @ - only", "category": "a category name: Chinese words, "
                      "letters and digits only"})

class RouteRequest(BaseModel):
    text: str = Field(min_length=1, description="What the caller said, as typed or pasted (at most "
                                                "ROUTING_MAX_TICKET_CHARS characters).")
    address: str | None = Field(None, max_length=300, description="The address the agent confirmed, if any.")
    channel: str = Field("hotline", max_length=32)
    agent: str | None = Field(None, max_length=64, pattern=AGENT_ID, description="Agent id, for the record "
                              "(letters, digits, . _ @ -); without it, the key's name.")
    draft_reply: bool = Field(True, description="Also compose a reply draft from the policy corpus.")

    model_config = {"json_schema_extra": {"examples": [{
        "text": "海淀区学院路街道某小区门口积水严重，下水道堵了好几天没人管", "agent": "A0123"}]}}


class DepartmentRef(BaseModel):
    id: str
    name: str
    short: str
    kind: str = Field(description="municipal | district | utility | street (a street or town office: 接诉即办 dispatches local matters to it)")
    source: str = Field(description="Where its responsibilities were read (policies/hotline/departments.yml).")


class DepartmentSuggestion(BaseModel):
    department: DepartmentRef
    role: Literal["主办", "协办"]
    confidence: float | None = Field(None, description="Share of the ranking score among the top departments.")
    score: float
    signals: dict[str, float] = Field(description="category, keywords, responsibilities, decisions")
    matched_keywords: list[str]
    responsibilities: list[str] = Field(description="The responsibility clauses behind the suggestion.")


class Suggestion(BaseModel):
    id: str
    audit_id: str
    ticket: str = Field(description="The ticket as stored: personal data masked.")
    personal_data: dict[str, int] = Field(description="What was masked, by kind.")
    place: Places
    category: CategoryGuess | None
    departments: list[DepartmentSuggestion] = Field(description="Up to three: 主办 first, then 协办 (the district "
                                                                "government last when the ticket names a place).")
    needs_review: bool
    review_reasons: list[str]
    evidence: Evidence
    reply_draft: ChatResponse | None = Field(description="What the answer pipeline says to the ticket's question, "
                                                         "shaped as a chat answer (its own audit event).")
    model: ModelInfo
    left_out: list[str] = Field(description="Parts that could not be made (policy evidence, reply draft, LLM) and "
                                            "why; the suggestion stands without them.")
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, suggestion: RoutedSuggestion) -> "Suggestion":
        out = cls.model_validate(replace(suggestion, reply_draft=None), from_attributes=True)
        if suggestion.reply_draft is not None:
            out.reply_draft = ChatResponse.of(suggestion.reply_draft)
        return out


class DecisionRequest(BaseModel):
    action: Literal["accept", "override"]
    department_id: str | None = Field(None, max_length=64, description="The lead department chosen (required to override).")
    co_handlers: list[str] = Field(default_factory=list, max_length=10)
    category: str | None = Field(None, max_length=32, pattern=CATEGORY, description="The category, when the agent "
                                 "corrects it, as the model names it: \"level 1/level 2\" of categories.yml "
                                 "(住房/物业管理), or a level-1 name of the competition's taxonomy (城乡建设).")
    reason: str | None = Field(None, max_length=2000, description="Why the suggestion was overridden (required to override).")
    agent: str | None = Field(None, max_length=64, pattern=AGENT_ID, description="Agent id (letters, digits, "
                              ". _ @ -); without it, the key's name.")

    @model_validator(mode="after")
    def _override_says_what_and_why(self) -> "DecisionRequest":
        if self.action == "override" and (not self.department_id or not (self.reason or "").strip()):
            raise ValueError("an override needs department_id and reason")
        return self

    model_config = {"json_schema_extra": {"examples": [
        {"action": "accept", "agent": "A0123"},
        {"action": "override", "department_id": "bj-csglw", "reason": "积水由市政排水设施引起，归城市管理委", "agent": "A0123"}]}}


class Decision(BaseModel):
    id: str
    suggestion_id: str
    audit_id: str
    created_at: StoredTime
    action: str
    department_id: str
    category: str | None
    agreed: bool = Field(description="The agent kept the suggested lead department.")


class Agreement(BaseModel):
    decided: int
    agreed: int
    agreement_rate: float | None


class TicketStats(Agreement):
    since: dt.datetime | None
    until: dt.datetime | None
    suggestions: int
    review_share: float | None
    pending: int
    overrides: int
    by_department: dict[str, Agreement]
    by_category: dict[str, Agreement]


@router.post("/route", response_model=Suggestion, responses=problem_responses(400, 422),
             summary="Suggest the departments that should handle a ticket")
async def route_ticket(body: RouteRequest, request: Request, services: ServicesDep) -> Any:
    caller = request.state.caller
    try:  # check_ticket refuses what cannot be routed (empty, too long, no words): a 422 naming text
        suggestion = await run_in_threadpool(services.routing.suggest, body.text, body.address, body.channel,
                                             body.agent or _agent_of(caller), body.draft_reply, caller.actor)
    except InvalidTicket as exc:
        raise ProblemError(422, str(exc), field="text", location="body") from None
    request.state.audited = True
    SUGGESTIONS.labels("needs_review" if suggestion.needs_review else "suggested").inc()
    return Suggestion.of(suggestion)


def _agent_of(caller) -> str | None:
    """The agent a key belongs to, when none is named: the key's name, as the audit log shows it."""
    return caller.key.name[:64] if caller.key else None


@router.post("/{suggestion_id}/decision", response_model=Decision, responses=problem_responses(400, 404, 409, 422),
             summary="Record the agent's decision on a suggestion")
async def decide(body: DecisionRequest, request: Request, services: ServicesDep,
                 suggestion_id: Annotated[str, Path(max_length=36)]) -> Any:
    caller = request.state.caller
    try:
        decision, event = await run_in_threadpool(
            services.routing.decide, suggestion_id, body.action, body.department_id, body.co_handlers, body.category,
            body.reason, body.agent or _agent_of(caller), "hotline", caller.actor)
    except KeyError:
        raise ProblemError(404, f"no suggestion {suggestion_id!r}", field="suggestion_id", location="path") from None
    except UnknownDepartment as exc:
        raise ProblemError(422, f"unknown department {exc}", field="department_id", location="body") from None
    except ConflictingDecision as exc:
        raise ProblemError(422, str(exc), field="department_id", location="body") from None
    except AlreadyDecided:
        raise ProblemError(409, "this suggestion already has a decision", field="suggestion_id", location="path") from None
    request.state.audited = True
    return Decision(id=decision.id, suggestion_id=suggestion_id, audit_id=event, created_at=decision.created_at,
                    action=decision.action, department_id=decision.department, category=decision.category,
                    agreed=decision.agreed)


class DepartmentOut(BaseModel):
    id: str
    name: str
    short: str
    kind: str = Field(description="municipal | district | utility | street (a street or town office: 接诉即办 dispatches local matters to it)")
    parent: str | None = Field(None, description="For a street or town office, its district government's id.")


@router.get("/departments", response_model=list[DepartmentOut], summary="The departments a ticket may go to")
async def list_departments() -> Any:
    """Every handler of the catalogue (policies/hotline/departments.yml, the 16 district governments
    and the 349 street and town offices): what an agent may choose when overriding a suggestion."""
    return [DepartmentOut(id=d.id, name=d.name, short=d.short, kind=d.kind, parent=d.parent)
            for d in departments().values()]


class RecentDecision(BaseModel):
    id: str
    suggestion_id: str
    created_at: StoredTime
    agent: str | None
    action: str
    suggested: str = Field(description="The lead department the suggestion named.")
    department: str = Field(description="The lead department the agent chose.")
    co_handlers: list[str]
    category: str | None
    reason: str | None = Field(description="As stored: personal data masked.")
    agreed: bool
    ticket: str = Field(description="As stored: personal data masked.")


@router.get("/decisions", response_model=list[RecentDecision], responses=problem_responses(422),
            summary="The latest decisions, newest first")
async def recent_decisions(request: Request, services: ServicesDep,
                           limit: Annotated[int, Query(ge=1, le=100)] = 20,
                           agent: Annotated[str | None, Query(max_length=64, pattern=AGENT_ID,
                                                              description="Only this agent's decisions.")] = None) -> Any:
    found = await run_in_threadpool(services.routing.recent_decisions, limit, agent)
    await run_in_threadpool(record_read, services, request, "tickets/decisions", "ok", None,
                            {"limit": limit, "agent": agent, "found": len(found)})
    return [RecentDecision(**row) for row in found]


@router.get("/stats", response_model=TicketStats, responses=problem_responses(422),
            summary="Agreement between suggestions and agents' decisions")
async def stats(request: Request, services: ServicesDep,
                since: Annotated[dt.datetime | None, Query(alias="from", description="ISO date or time, inclusive")] = None,
                until: Annotated[dt.datetime | None, Query(alias="to", description="ISO date or time, exclusive")] = None) -> Any:
    since, until = since and in_utc(since), until and in_utc(until)
    if since and until and since > until:
        raise ProblemError(422, "must not be after `to`", field="from")
    result = await run_in_threadpool(services.routing.stats, since, until)
    await run_in_threadpool(record_read, services, request, "tickets/stats", "ok", None, {
        "from": since.isoformat() if since else None, "to": until.isoformat() if until else None,
        "decided": result["decided"]})
    return TicketStats(since=since, until=until, **result)



class HotTicketOut(BaseModel):
    id: str = Field(description="The suggestion's id.")
    text: str = Field(description="As stored: personal data masked.")
    created_at: StoredTime
    category: str | None


class HotTopicOut(BaseModel):
    title: str = Field(description="The ticket nearest the topic's centre, as its caller began it.")
    keywords: list[str] = Field(description="Words its tickets use more than the period's others do.")
    district: str | None
    street: str | None
    category: str | None = Field(description="The category most of its tickets were classed in.")
    count: int
    first_at: StoredTime
    last_at: StoredTime
    cohesion: float = Field(description="Mean similarity of its tickets to its centre (cosine).")
    tickets: list[HotTicketOut] = Field(description="Up to five, nearest the centre first.")


class HotTopics(BaseModel):
    since: dt.datetime
    until: dt.datetime
    tickets: int = Field(description="How many tickets of the period were read (the newest "
                                     "`hot_topic_max_tickets` of policies/hotline/ranking.yml at most).")
    topics: list[HotTopicOut] = Field(description="Largest first, then latest.")


@router.get("/hot", response_model=HotTopics, responses=problem_responses(422),
            summary="Hot topics: one matter raised by several callers at one place")
async def hot_topics(request: Request, services: ServicesDep,
                     since: Annotated[dt.datetime | None, Query(alias="from", description="ISO date or time, "
                                                                "inclusive; default: 7 days before `to`")] = None,
                     until: Annotated[dt.datetime | None, Query(alias="to", description="ISO date or time, "
                                                                "exclusive; default: now")] = None) -> Any:
    """Tickets of one district and street, clustered by meaning (app/routing/hot_topics.py); a topic
    has at least `hot_topic_min_tickets` tickets. Reads only what the period's suggestions stored."""
    until = in_utc(until) if until else dt.datetime.now(dt.timezone.utc)
    try:
        since = in_utc(since) if since else until - dt.timedelta(days=7)
    except OverflowError:  # `to` in the first week of year 1
        raise ProblemError(422, "leaves no 7 days before it; give `from`", field="to") from None
    if since >= until:
        raise ProblemError(422, "must be before `to`", field="from")
    topics, read = await run_in_threadpool(services.routing.hot_topics, since, until)
    await run_in_threadpool(record_read, services, request, "tickets/hot", "ok", None, {
        "from": since.isoformat(), "to": until.isoformat(), "tickets": read, "topics": len(topics)})
    return HotTopics(since=since, until=until, tickets=read,
                     topics=[HotTopicOut.model_validate(t, from_attributes=True) for t in topics])
