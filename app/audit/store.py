"""Audit events in SQL: a SQLite file under the data directory by default, PostgreSQL via
DATABASE_URL; the schema comes from the Alembic migrations (migrate.py), run at start.

Every event is appended to one hash chain (chain.py). Appends are serialised across threads,
workers and processes by the database itself: a transaction-scoped advisory lock in PostgreSQL,
`BEGIN IMMEDIATE` (SQLite's single writer) in SQLite — the previous hash is read under that lock.
What an answer rested on is frozen beside it, content-addressed (audit_evidence).

Reading (listing, export, summary) is done with SQL aggregates and keyset pages.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Integer, and_, cast, create_engine, event, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from app.audit import migrate
from app.audit.chain import FIELDS, GENESIS, Report, canonical_json, intact, row_hash, sign, time_text, walk
from app.audit.head_check import HeadCheck, disagreement
from app.audit.heads import HeadSigner, HeadVerifier, append_heads
from app.audit.schema import (audit_anchors, audit_checkpoints, audit_events, audit_evidence,
                              audit_retention_window)

_APPEND_LOCK = 0x6A696E6761  # "jinga": the advisory lock every PostgreSQL append takes
# the HTTP request an event belongs to (set by the API's middleware, copied into the threads that
# serve the request): every event written while serving it carries it in its details, as the access
# log line and the X-Request-ID response header do
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
ANSWERED = ("answered", "answered_not_in_force")
NOT_REFUSED = (*ANSWERED, "cancelled", "error")


@dataclass
class AuditEvent:
    kind: str  # answer | lookup | suggestion | decision | knowledge | request | access | admin
    channel: str
    status: str
    question: str | None = None  # masked by the caller
    answer: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    actor: str | None = None
    department: str | None = None
    degraded: bool | None = None
    agreed: bool | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # sha256 → chunk text, frozen with the event


@dataclass
class EventFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    kinds: list[str] = field(default_factory=list)
    channel: str | None = None
    status: str | None = None
    department: str | None = None
    actor: str | None = None
    refused: bool = False
    degraded: bool = False
    overridden: bool = False
    text: str | None = None  # a substring of the masked question

    def conditions(self) -> list:
        c = audit_events.c
        out = []
        if self.since is not None:
            out.append(c.created_at >= self.since)
        if self.until is not None:
            out.append(c.created_at < self.until)
        if self.kinds:
            out.append(c.kind.in_(self.kinds))
        for column, value in ((c.channel, self.channel), (c.status, self.status), (c.department, self.department),
                              (c.actor, self.actor)):
            if value is not None:
                out.append(column == value)
        if self.refused:
            out.append(and_(c.kind == "answer", c.status.not_in(NOT_REFUSED)))
        if self.degraded:
            out.append(c.degraded.is_(True))
        if self.overridden:
            out.append(and_(c.kind == "decision", c.status == "override"))
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(c.question.like(f"%{escaped}%", escape="\\"))
        return out


class BadCursor(ValueError):
    pass


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq = value["seq"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise BadCursor("the cursor is not one this API gave out") from exc
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**62:  # a BIGINT holds the rest
        raise BadCursor("the cursor is not one this API gave out")
    return seq


# the raw columns the chain is checked on: FIELDS, the details as stored text, the stored hash. Times
# come as text (SQLite stores them so; PostgreSQL formats them in UTC): nothing is parsed to be checked
_PG_TIME = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def _raw(dialect: str) -> str:
    fields = [(_PG_TIME if dialect == "postgresql" else f) if f == "created_at" else f for f in FIELDS]
    return f"SELECT {', '.join(fields)}, CAST(details AS TEXT), hash FROM audit_events"


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, future=True, json_serializer=canonical_json,
                           connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # a writer takes SQLite's write lock when it begins, so the chain head it reads stays the head
        immediate = connection.get_execution_options().get("audit_append", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass
class HeadSchedule:
    """When the chain's head is signed (heads.py) and where the signed heads are also kept."""
    signer: HeadSigner
    file: Path | None = None  # AUDIT_ANCHOR_FILE: append-only, on storage the database's admins cannot rewrite
    every_events: int = 100
    every_seconds: float = 300.0


class AuditStore:
    def __init__(self, url: str, signing_key: str | None = None, heads: HeadSchedule | None = None,
                 migrate_schema: bool = True) -> None:
        # details are written as canonical JSON: the text stored is the text hashed (chain.py)
        self.engine: Engine = (_sqlite_engine(url) if url.startswith("sqlite") else
                               create_engine(url, future=True, pool_pre_ping=True, json_serializer=canonical_json))
        self.signing_key = (signing_key or "").encode()
        self.heads = heads
        self._local = threading.Lock()  # appends of one process queue here rather than on the database lock
        try:
            # a verifier holding only the public key reads the database as it is, and writes nothing
            self.revision = migrate.upgrade(self.engine) if migrate_schema else migrate.current_revision(self.engine)
        except SQLAlchemyError as exc:  # configured but unreachable: say so at start-up
            raise RuntimeError(f"audit database {self.engine.url.render_as_string(hide_password=True)} "
                               f"is not reachable: {exc.__class__.__name__}: {exc}") from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- writing -------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, sign_now: bool = False) -> Iterator[Connection]:
        """A transaction that may append events: what it records and the records themselves are
        written together or not at all. The head is signed in the same transaction when it is due
        (or `sign_now`), and copied to the anchor file once committed."""
        with self._local:
            with self.engine.connect().execution_options(audit_append=True) as conn:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
                    yield conn
                    head = self._sign_if_due(conn, sign_now)
            if head is not None and self.heads.file is not None:
                append_heads(self.heads.file, [head])

    def append(self, conn: Connection, event_: AuditEvent) -> str:
        """Appends inside a `writing()` transaction; returns the event's id."""
        seq, previous = self._head(conn)
        row = {"id": str(uuid.uuid4()), "seq": seq + 1, "created_at": dt.datetime.now(dt.timezone.utc),
               "kind": event_.kind, "channel": event_.channel, "status": event_.status,
               "session_id": event_.session_id, "actor": event_.actor, "department": event_.department,
               "degraded": event_.degraded, "agreed": event_.agreed, "question": event_.question,
               "answer": event_.answer, "details": json.loads(canonical_json(_with_request(event_.details))),
               "prev_hash": previous}
        row["hash"] = row_hash(row)
        row["seal"] = self.heads.signer.seal(row["seq"], row["hash"]) if self.heads else None
        conn.execute(insert(audit_events).values(**row))
        if event_.evidence:
            self._freeze(conn, event_.evidence, row["created_at"])
        return row["id"]

    def record(self, event_: AuditEvent) -> str:
        with self.writing() as conn:
            return self.append(conn, event_)

    @staticmethod
    def _head(conn: Connection) -> tuple[int, str]:
        last = conn.execute(select(audit_events.c.seq, audit_events.c.hash)
                            .order_by(audit_events.c.seq.desc()).limit(1)).first()
        checkpoint = conn.execute(select(audit_checkpoints.c.seq, audit_checkpoints.c.hash)
                                  .order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()
        heads = [tuple(h) for h in (last, checkpoint) if h is not None and h[0] is not None]
        return max(heads) if heads else (0, GENESIS)

    def _freeze(self, conn: Connection, texts: dict[str, str], when: dt.datetime) -> None:
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        rows = [{"sha256": digest, "text": body, "first_seen": when} for digest, body in texts.items()]
        conn.execute(dialect_insert(audit_evidence).values(rows).on_conflict_do_nothing(index_elements=["sha256"]))

    # -- reading -------------------------------------------------------------------------------------
    def get(self, event_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(audit_events).where(audit_events.c.id == event_id)).mappings().first()
        return dict(row) if row else None

    def hash_matches(self, event_id: str) -> bool:
        """The event's stored content still gives its stored hash (its own link; `verify` checks the rest)."""
        with self.engine.connect() as conn:
            row = conn.execute(text(f"{_raw(self.dialect)} WHERE id = :id"), {"id": event_id}).first()
        return row is not None and intact(row)

    def count(self, filters: EventFilter | None = None) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(audit_events)
                                .where(*(filters or EventFilter()).conditions())).scalar_one()

    def page(self, filters: EventFilter, limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, `limit` at a time; the cursor names the last event given (keyset, by seq)."""
        query = select(audit_events).where(*filters.conditions())
        if cursor:
            query = query.where(audit_events.c.seq < decode_cursor(cursor))
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query.order_by(audit_events.c.seq.desc()).limit(limit + 1)).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]["seq"]) if more and rows else None

    def stream(self, filters: EventFilter, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every matching event, oldest first, read in keyset batches (an export never holds them all)."""
        for row in self._in_seq_order(select(audit_events).where(*filters.conditions()), 0, batch):
            yield dict(row._mapping)

    def _in_seq_order(self, query: Any, after: int, batch: int) -> Iterator[Any]:
        """The rows of `query` (it selects `seq`) after sequence `after`, oldest first, `batch` at a time
        by keyset: however many there are, one batch is in memory."""
        while True:
            with self.engine.connect() as conn:
                got = conn.execute(query.where(audit_events.c.seq > after).order_by(audit_events.c.seq)
                                   .limit(batch)).all()
            yield from got
            if len(got) < batch:
                return
            after = got[-1].seq

    def evidence(self, digests: list[str]) -> dict[str, str]:
        if not digests:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_evidence.c.sha256, audit_evidence.c.text)
                                .where(audit_evidence.c.sha256.in_(digests))).all()
        return {digest: body for digest, body in rows}

    def summary(self, filters: EventFilter, drafts_channel: str = "hotline") -> list[dict[str, Any]]:
        """Per Beijing day: events by kind, residents' answers by status, the agents' reply drafts apart
        (answers on `drafts_channel`), degraded answers, suggestions sent to review, decisions and
        agreement per suggested lead department — in two grouped queries."""
        c = audit_events.c
        day = func.date(c.created_at, "+8 hours") if self.dialect == "sqlite" else func.to_char(
            func.timezone("Asia/Shanghai", c.created_at), "YYYY-MM-DD")
        where = filters.conditions()
        days: dict[str, dict[str, Any]] = {}

        def of(d) -> dict[str, Any]:
            return days.setdefault(str(d), {"day": str(d), "events": {}, "answers_by_status": {}, "answers": 0,
                                            "refused": 0, "degraded": 0, "drafts": 0, "drafts_refused": 0,
                                            "suggestions": 0, "needs_review": 0, "decisions_by_department": {}})

        with self.engine.connect() as conn:
            for d, kind, status, channel, n, degraded in conn.execute(
                    select(day, c.kind, c.status, c.channel, func.count(), func.sum(cast(c.degraded, Integer)))
                    .where(*where).group_by(day, c.kind, c.status, c.channel)):
                entry = of(d)
                entry["events"][kind] = entry["events"].get(kind, 0) + n
                refused = n if status not in NOT_REFUSED else 0
                if kind == "answer" and channel == drafts_channel:  # the panel's drafts: not residents' answers
                    entry["drafts"] += n
                    entry["drafts_refused"] += refused
                elif kind == "answer":
                    entry["answers"] += n
                    entry["answers_by_status"][status] = entry["answers_by_status"].get(status, 0) + n
                    entry["refused"] += refused
                    entry["degraded"] += int(degraded or 0)
                elif kind == "suggestion":
                    entry["suggestions"] += n
                    entry["needs_review"] += n if status == "needs_review" else 0
            for d, department, n, agreed in conn.execute(
                    select(day, c.department, func.count(), func.sum(cast(c.agreed, Integer)))
                    .where(*where, c.kind == "decision").group_by(day, c.department)):
                of(d)["decisions_by_department"][department or "?"] = {"decided": n, "agreed": int(agreed or 0)}
        for entry in days.values():
            entry["degraded_share"] = entry["degraded"] / entry["answers"] if entry["answers"] else None
            entry["review_share"] = entry["needs_review"] / entry["suggestions"] if entry["suggestions"] else None
            entry["lookups"] = entry["events"].get("lookup", 0)
        return [days[d] for d in sorted(days)]

    # -- proving -------------------------------------------------------------------------------------
    def verify(self, from_seq: int | None = None, anchors: list[dict[str, Any]] | None = None,
               verifier: HeadVerifier | None = None, batch: int = 5000) -> Report:
        """Walks the chain from its start (or the latest retention checkpoint, or `from_seq`), then
        checks it against the heads written down — the table's and any given (from the anchor file):
        signed heads and seals with `verifier` (the public key; by default the store's own key),
        unsigned anchors by their hash."""
        report = Report()
        verifier = verifier or (self.heads.signer if self.heads else None)
        with self.engine.connect() as conn:
            checkpoint = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc())
                                      .limit(1)).mappings().first()
            table_heads = [_head_row(r) for r in conn.execute(select(audit_anchors).order_by(audit_anchors.c.seq))]
            start_seq, start_hash = 0, GENESIS
            if checkpoint is not None:
                if not self._checkpoint_signed(checkpoint):
                    return report.broken("checkpoint", checkpoint["seq"], None, "the retention checkpoint's "
                                         "signature does not match (AUDIT_SIGNING_KEY): it was rewritten")
                start_seq, start_hash = checkpoint["seq"], checkpoint["hash"]
                report.notes.append(f"events up to {start_seq} were removed by retention (signed checkpoint)")
            if from_seq is not None and from_seq - 1 > start_seq:
                before = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == from_seq - 1)).first()
                if before is not None:
                    start_seq, start_hash = from_seq - 1, before[0]
        # keyset batches of raw rows: a million events never sit in memory at once, nothing is parsed.
        # A row without a sequence number (inserted around the chain) is looked for once, apart: an
        # `OR seq IS NULL` in the batch query would keep the database from walking the seq index.
        query = text(f"{_raw(self.dialect)} WHERE seq > :after ORDER BY seq LIMIT :n")
        unplaced = text(f"{_raw(self.dialect)} WHERE seq IS NULL LIMIT 1")

        def rows() -> Iterator[Any]:
            with self.engine.connect() as conn:
                yield from conn.execute(unplaced).all()
            after = start_seq
            while True:
                with self.engine.connect() as conn:
                    got = conn.execute(query, {"after": after, "n": batch}).all()
                yield from got
                if len(got) < batch:
                    return
                after = got[-1][1]
        walk(rows(), start_seq, start_hash, report)
        given = list(anchors or [])
        if report.ok:
            self._check_anchors(report, [h for h in table_heads + given if not h.get("signature")], start_seq)
        if report.ok and verifier is not None:
            HeadCheck(self, verifier, report, start_seq).run([h for h in table_heads if h.get("signature")],
                                                            [h for h in given if h.get("signature")])
        elif verifier is None:
            report.notes.append("signed heads and seals not checked: no public key given")
        return report

    def _check_anchors(self, report: Report, anchors: list[dict[str, Any]], start_seq: int) -> None:
        """Unsigned anchors (written before heads were signed, or passed with --anchors): they catch a cut
        tail or an edit, not a rewrite by someone who can also write the anchors."""
        end = report.head_seq or 0
        report.anchors_checked += len(anchors)
        found = disagreement(self, anchors, start_seq, end)
        if found is None:
            return
        if found.truncated:
            report.broken("truncated", end + 1, None, f"an anchor says the chain reached {found.head_seq}, it now "
                          f"ends at {end}: events were removed from the end")
        else:
            report.broken("edited", found.head_seq, found.event_id, "the event differs from the hash an anchor "
                          "recorded: the chain was rewritten from here on")

    def seals(self, after: int, through: int | None = None, batch: int = 5000) -> Iterator[tuple[int, str, str, str | None]]:
        """(seq, id, hash, seal) of the events after `after` (through `through`), in order."""
        c = audit_events.c
        query = select(c.seq, c.id, c.hash, c.seal)
        if through is not None:
            query = query.where(c.seq <= through)
        yield from (tuple(r) for r in self._in_seq_order(query, after, batch))

    def hashes_at(self, seqs: list[int]) -> dict[int, tuple[str, str]]:
        """seq → (event id, stored hash) for those of `seqs` still in the table."""
        out: dict[int, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(seqs), 500):
                for seq, event_id, digest in conn.execute(select(audit_events.c.seq, audit_events.c.id,
                                                                 audit_events.c.hash)
                                                          .where(audit_events.c.seq.in_(seqs[i:i + 500]))):
                    out[seq] = (event_id, digest)
        return out

    def anchor(self) -> dict[str, Any]:
        """Writes the chain's head down now (table audit_anchors; signed, and copied to the anchor file,
        with a head key); returns it, to be kept elsewhere too."""
        if self.heads is not None:
            return self.sign_head(force=True) or {"seq": 0, "hash": GENESIS}
        with self.writing() as conn:
            seq, head = self._head(conn)
            row = {"seq": seq, "hash": head, "created_at": dt.datetime.now(dt.timezone.utc)}
            conn.execute(insert(audit_anchors).values(**row))
        return {**row, "created_at": row["created_at"].isoformat()}

    def sign_head(self, force: bool = False) -> dict[str, Any] | None:
        """Signs the head when events are unsigned and it is due (every N events or M seconds; `force`:
        now) — what the service's clock calls in quiet periods; returns the newest signed head."""
        if self.heads is None:
            return None
        with self.writing(sign_now=force):
            pass
        with self.engine.connect() as conn:
            return _last_signed(conn)

    def _sign_if_due(self, conn: Connection, now: bool) -> dict[str, Any] | None:
        if self.heads is None:
            return None
        seq, digest = self._head(conn)
        last = _last_signed(conn)
        if seq == 0 or (last is not None and last["seq"] >= seq):
            return None
        moment = dt.datetime.now(dt.timezone.utc)
        if not now and last is not None:
            age = (moment - dt.datetime.fromisoformat(last["created_at"].replace("Z", "+00:00"))).total_seconds()
            if seq - last["seq"] < self.heads.every_events and age < self.heads.every_seconds:
                return None
        head = self.heads.signer.head(seq, digest, last, moment)
        conn.execute(insert(audit_anchors).values(seq=seq, hash=digest, created_at=moment, previous=head["previous"],
                                                  key_id=head["key_id"], signature=head["signature"]))
        return head

    def _checkpoint_signed(self, checkpoint: Any) -> bool:
        return sign(self.signing_key, checkpoint["seq"], checkpoint["hash"], checkpoint["removed"]) == checkpoint["signature"]

    def prune(self, before: dt.datetime, actor: str = "retention") -> dict[str, Any]:
        """Removes the events older than `before` (a prefix of the chain), leaving a signed checkpoint of
        where the removed part ended and an `admin` event that says what was removed."""
        with self.writing() as conn:
            last = conn.execute(select(audit_events.c.seq, audit_events.c.hash)
                                .where(audit_events.c.created_at < before)
                                .order_by(audit_events.c.seq.desc()).limit(1)).first()
            if last is None:
                removed = {"removed": 0, "before": before.isoformat()}
            else:
                span = conn.execute(select(func.count(), func.min(audit_events.c.created_at),
                                           func.max(audit_events.c.created_at))
                                    .where(audit_events.c.seq <= last.seq)).one()
                if self.dialect == "postgresql":
                    conn.execute(text("SET LOCAL jingce.retention = 'on'"))
                else:  # opens SQLite's delete trigger for this transaction only
                    conn.execute(insert(audit_retention_window).values(id=1))
                conn.execute(audit_events.delete().where(audit_events.c.seq <= last.seq))
                if self.dialect != "postgresql":
                    conn.execute(audit_retention_window.delete())
                conn.execute(insert(audit_checkpoints).values(
                    seq=last.seq, hash=last.hash, removed=span[0], oldest=span[1], newest=span[2],
                    created_at=dt.datetime.now(dt.timezone.utc),
                    signature=sign(self.signing_key, last.seq, last.hash, span[0])))
                removed = {"removed": span[0], "through_seq": last.seq, "before": before.isoformat()}
            self.append(conn, AuditEvent("admin", "cli", "retention", details=removed, actor=actor))
        return removed

    def ping(self) -> str:
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return self.dialect

    def close(self) -> None:
        self.engine.dispose()


def _head_row(row: Any) -> dict[str, Any]:
    """A signed head as the table holds it, in the form it was signed in (heads.HEAD_FIELDS)."""
    return {"seq": row.seq, "hash": row.hash, "previous": row.previous, "created_at": time_text(row.created_at),
            "key_id": row.key_id, "signature": row.signature}


def _last_signed(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(select(audit_anchors).where(audit_anchors.c.signature.is_not(None))
                       .order_by(audit_anchors.c.seq.desc(), audit_anchors.c.id.desc()).limit(1)).first()
    return _head_row(row) if row is not None else None


def _with_request(details: dict[str, Any]) -> dict[str, Any]:
    request_id = REQUEST_ID.get()
    return {**details, "request_id": request_id} if request_id and "request_id" not in details else details
