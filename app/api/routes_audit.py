"""The audit log for officials (role `auditor`): list and filter events (keyset pages), one event with
the evidence frozen when it was written and its place in the hash chain, a streamed export (CSV or
JSON lines), per-day figures for the review page's charts, and the chain's status. Reading the log
is itself recorded (kind `lookup`)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
from typing import Annotated, Any, Iterator, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.api.deps import ServicesDep
from app.api.problems import ProblemError, problem_responses
from app.api.reads import record_read
from app.api.schemas import StoredTime
from app.audit.heads import read_heads
from app.audit.labels import BEIJING, beijing_time, labels
from app.audit.store import BadCursor, EventFilter
from app.composition import Services
from app.routing.catalogue import departments

router = APIRouter(prefix="/v1/audit", tags=["audit"])
log = logging.getLogger(__name__)
KINDS = ("answer", "lookup", "suggestion", "decision", "knowledge", "request", "access", "admin")


class EventQuery:
    """The filters every listing, export and summary takes."""

    def __init__(
        self,
        since: Annotated[dt.datetime | None, Query(alias="from", description="ISO date or time, inclusive (Beijing "
                                                                             "time unless a zone is given)")] = None,
        until: Annotated[dt.datetime | None, Query(alias="to", description="ISO date or time, exclusive")] = None,
        kind: Annotated[list[str] | None, Query(description="One or more event kinds: the code "
                                                "(answer, decision…) or its label (回答, 派单决定…).")] = None,
        channel: Annotated[str | None, Query(max_length=32, description="The code (hotline) or its label (12345热线).")] = None,
        status: Annotated[str | None, Query(max_length=40, description="The code (override) or its label (改派).")] = None,
        department: Annotated[str | None, Query(max_length=64, description="Suggested lead department id.")] = None,
        actor: Annotated[str | None, Query(max_length=80, description="e.g. `agent key:1a2b3c4d5e6f` or "
                                           "`坐席 密钥1a2b3c4d5e6f`")] = None,
        refused: Annotated[bool, Query(description="Only answers that refused.")] = False,
        degraded: Annotated[bool, Query(description="Only answers given in degraded mode.")] = False,
        overridden: Annotated[bool, Query(description="Only decisions that overrode the suggestion.")] = False,
        q: Annotated[str | None, Query(max_length=200, description="Words in the (masked) question.")] = None,
    ) -> None:
        since, until = _zoned(since), _zoned(until)
        if since and until and since > until:
            raise ProblemError(422, "must not be after `to`", field="from")
        names = labels()
        kinds = [names.code("kinds", k) for k in kind or []]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ProblemError(422, f"unknown kind {unknown[0]!r}; one of " + ", ".join(
                f"{k}（{names.label('kinds', k)}）" for k in KINDS), field="kind")
        self.filters = EventFilter(since, until, kinds, names.code("channels", channel), names.code("statuses", status),
                                   department, names.actor_code(actor), refused, degraded, overridden, q)

    def record(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in vars(self.filters).items()
                if v not in (None, False, [])}


def _zoned(value: dt.datetime | None) -> dt.datetime | None:
    """A date or time without a zone is Beijing's: "from=2026-12-05" starts at midnight in Beijing."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=BEIJING)


class EventOut(BaseModel):
    id: str
    seq: int | None
    created_at: StoredTime
    kind: str
    channel: str
    status: str
    actor: str | None
    session_id: str | None
    department: str | None
    degraded: bool | None
    agreed: bool | None
    question: str | None = Field(description="As stored: personal data masked.")
    answer: str | None
    shown: "EventShown"

    @classmethod
    def of(cls, row: dict[str, Any]) -> "EventOut":
        fields = {k: row.get(k) for k in cls.model_fields if k != "shown"}
        return cls(**fields, shown=EventShown.of(row))


class EventShown(BaseModel):
    """The event in officials' words (policies/audit/labels.yml): labels, Beijing time, departments by name."""
    time: str = Field(description="Beijing time, with the zone: 2026-12-06 14:03:21 +08:00")
    kind: str
    channel: str
    status: str
    actor: str | None
    place: str | None = Field(description="Where the ticket is (district, street), for suggestions and decisions")
    suggested: str | None = Field(description="The suggested lead department's name")
    decided: str | None = Field(description="The decided lead department's name (decisions)")
    rewritten: str | None = Field(description="The question as the service read it, when a follow-up was rewritten")

    @classmethod
    def of(cls, row: dict[str, Any]) -> "EventShown":
        names, details = labels(), row.get("details") or {}
        suggested = details.get("suggested") if row["kind"] == "decision" else (
            row.get("department") if row["kind"] == "suggestion" else None)
        decided = details.get("department") if row["kind"] == "decision" else None
        rewritten = details.get("rewritten") if row["kind"] == "answer" else None
        return cls(time=beijing_time(row["created_at"]), kind=names.label("kinds", row["kind"]),
                   channel=names.label("channels", row["channel"]), status=names.label("statuses", row["status"]),
                   actor=names.actor(row.get("actor")), place=details.get("place"),
                   suggested=department_name(suggested), decided=department_name(decided),
                   rewritten=rewritten if rewritten and rewritten != row.get("question") else None)


def department_name(department_id: str | None) -> str | None:
    if not department_id:
        return None
    found = departments().get(department_id)
    return found.name if found else department_id


EventOut.model_rebuild()


class EventPage(BaseModel):
    total: int = Field(description="Events matching the filters.")
    events: list[EventOut]
    next_cursor: str | None


class ChainPosition(BaseModel):
    seq: int | None
    prev_hash: str | None
    hash: str | None
    hash_matches: bool = Field(description="The event's content still gives its stored hash.")


class FrozenEvidence(BaseModel):
    chunk_id: str | None
    doc_id: str | None
    score: float | None
    cited: bool
    sha256: str
    text: str | None = Field(description="The chunk's text as it was when the event was written.")
    live: Literal["same", "changed", "gone", "unchecked"] = Field(
        description="The indexed chunk today: same text, changed (re-ingested or amended), gone (deleted).")


class EventDetail(EventOut):
    details: dict[str, Any]
    chain: ChainPosition
    evidence: list[FrozenEvidence]


@router.get("/events", response_model=EventPage, responses=problem_responses(401, 403, 422, 429),
            summary="Audit events, newest first, filtered")
async def events(request: Request, services: ServicesDep, query: Annotated[EventQuery, Depends()],
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 cursor: Annotated[str | None, Query(max_length=200)] = None) -> Any:
    try:
        rows, next_cursor = await run_in_threadpool(services.audit.page, query.filters, limit, cursor)
    except BadCursor as exc:
        raise ProblemError(422, str(exc), field="cursor") from None
    total = await run_in_threadpool(services.audit.count, query.filters)
    await run_in_threadpool(record_read, services, request, "audit/events", "ok", query.filters.text,
                            {"filters": query.record(), "found": total})
    return EventPage(total=total, events=[EventOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/events/{event_id}", response_model=EventDetail, responses=problem_responses(401, 403, 404, 422, 429),
            summary="One event with its frozen evidence and place in the chain")
async def event(request: Request, services: ServicesDep, event_id: Annotated[str, Path(max_length=36)]) -> Any:
    row = await run_in_threadpool(services.audit.get, event_id)
    await run_in_threadpool(record_read, services, request, "audit/event", "ok" if row else "not_found", None,
                            {"event_id": event_id})
    if row is None:
        raise ProblemError(404, f"no audit event {event_id!r}", field="event_id", location="path")
    evidence = await run_in_threadpool(_evidence, services, row["details"] or {})
    chain = ChainPosition(seq=row["seq"], prev_hash=row["prev_hash"], hash=row["hash"],
                          hash_matches=await run_in_threadpool(services.audit.hash_matches, event_id))
    return EventDetail(**EventOut.of(row).model_dump(), details=row["details"], chain=chain, evidence=evidence)


def _evidence(services: Services, details: dict[str, Any]) -> list[FrozenEvidence]:
    retrieved = [r for r in details.get("retrieved") or [] if r.get("text_sha256")]
    cited = {c.get("chunk_id") for c in details.get("citations") or []}
    frozen = services.audit.evidence([r["text_sha256"] for r in retrieved])
    live = {}
    try:
        live = {h.id: hashlib.sha256(h.payload.get("text", "").encode()).hexdigest()
                for h in services.store.retrieve([r["chunk_id"] for r in retrieved if r.get("chunk_id")])}
        checked = True
    except Exception:  # the store being down does not hide the record: the live state is left unchecked
        log.warning("live chunks could not be read for an audit event's evidence", exc_info=True)
        checked = False
    out = []
    for r in retrieved:
        state = "unchecked" if not checked else ("gone" if r["chunk_id"] not in live else
                                                ("same" if live[r["chunk_id"]] == r["text_sha256"] else "changed"))
        out.append(FrozenEvidence(chunk_id=r.get("chunk_id"), doc_id=r.get("doc_id"), score=r.get("score"),
                                  cited=r.get("chunk_id") in cited, sha256=r["text_sha256"],
                                  text=frozen.get(r["text_sha256"]), live=state))
    return out




@router.get("/export", responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}},
                                  **problem_responses(401, 403, 422, 429)},
            summary="Every matching event, oldest first, streamed as CSV or JSON lines")
async def export(request: Request, services: ServicesDep, query: Annotated[EventQuery, Depends()],
                 format: Annotated[Literal["csv", "jsonl"], Query()] = "csv") -> StreamingResponse:
    await run_in_threadpool(record_read, services, request, "audit/export", "ok", query.filters.text,
                            {"filters": query.record(), "format": format})
    rows = services.audit.stream(query.filters)
    name = f"jingce-audit-{dt.date.today().isoformat()}.{format}"
    body = _csv(rows) if format == "csv" else _jsonl(rows)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Officials' columns (labels.yml export_columns): labels, not codes; department names; Beijing time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # Excel opens UTF-8 Chinese text correctly only with the byte order mark
    columns = labels().export_columns
    writer.writerow(columns.values())
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(value) for value in _csv_row(row, columns).values()])
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_row(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    shown = EventShown.of(row)
    yes_no = {True: "是", False: "否", None: ""}
    values = {**row, "created_at": shown.time, "kind": shown.kind, "channel": shown.channel, "status": shown.status,
              "actor": shown.actor, "place": shown.place, "suggested": shown.suggested, "decided": shown.decided,
              "rewritten": shown.rewritten, "agreed": yes_no[row.get("agreed")], "degraded": yes_no[row.get("degraded")],
              "answer": department_name(row.get("answer")) if row["kind"] in ("suggestion", "decision") else row.get("answer")}
    return {column: values.get(column) for column in columns}


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a question starting with = must not become a spreadsheet formula
    return value


def _jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps({k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()},
                         ensure_ascii=False) + "\n"


class DaySummary(BaseModel):
    day: str
    events: dict[str, int] = Field(description="Events by kind.")
    answers: int = Field(description="Residents' answers (the agents' reply drafts are counted apart).")
    answers_by_status: dict[str, int]
    refused: int
    drafts: int = Field(description="Reply drafts composed for the hotline panel.")
    drafts_refused: int
    degraded: int
    degraded_share: float | None
    lookups: int
    suggestions: int
    needs_review: int
    review_share: float | None
    decisions_by_department: dict[str, dict[str, int]] = Field(
        description="Per suggested lead department: decided, agreed (the agent kept it).")


@router.get("/summary", response_model=list[DaySummary], responses=problem_responses(401, 403, 422, 429),
            summary="Per-day figures: answers, refusals, degraded share, lookups, suggestions, agreement")
async def summary(request: Request, services: ServicesDep, query: Annotated[EventQuery, Depends()]) -> Any:
    days = await run_in_threadpool(services.audit.summary, query.filters)
    await run_in_threadpool(record_read, services, request, "audit/summary", "ok", None, {"filters": query.record()})
    return days


class ChainStatus(BaseModel):
    ok: bool
    checked: int
    first_seq: int | None
    head_seq: int | None
    head_hash: str | None
    anchors_checked: int
    heads_checked: int = Field(description="Signed heads checked (the table's and the anchor file's)")
    unsigned: int | None = Field(description="Events after the last signed head (sealed, not yet under a head)")
    last_signed_seq: int | None
    first_break: dict[str, Any] | None
    notes: list[str]


@router.get("/verify", response_model=ChainStatus, responses=problem_responses(401, 403, 429),
            summary="Walk the hash chain and check its signed heads and seals (as `jingce audit verify`)")
async def verify(request: Request, services: ServicesDep) -> Any:
    heads = read_heads(services.settings.audit_anchor_file)
    report = await run_in_threadpool(services.audit.verify, None, heads)
    await run_in_threadpool(record_read, services, request, "audit/verify", "ok" if report.ok else "broken", None,
                            {"checked": report.checked})
    return ChainStatus(**report.as_dict())
