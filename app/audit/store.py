"""Audit events in SQL: a SQLite file under the data directory by default, PostgreSQL via
DATABASE_URL. One row per event; the details that differ by kind live in a JSON column.

The review page, filters and the tamper-evident hash chain come with the audit issue; the record
written here is already complete (question as masked, rewrite, filters, retrieved chunks with
scores and text hashes, composer and prompt version, answer, citations, status, step timings).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Text, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

metadata = MetaData()

audit_events = Table(
    "audit_events", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("kind", String(32), nullable=False, index=True),  # answer | lookup | suggestion | decision
    Column("channel", String(32), nullable=False, index=True),
    Column("status", String(40), nullable=False, index=True),
    Column("session_id", String(64), index=True),
    Column("question", Text),  # masked
    Column("answer", Text),
    Column("details", JSON, nullable=False),
)


def record_event(conn, kind: str, channel: str, status: str, question: str | None, answer: str | None,
                 details: dict[str, Any], session_id: str | None = None) -> str:
    """Insert an event inside the caller's transaction, so that what it records and the record
    itself are written together or not at all."""
    event_id = str(uuid.uuid4())
    conn.execute(insert(audit_events).values(
        id=event_id, created_at=dt.datetime.now(dt.timezone.utc), kind=kind, channel=channel,
        status=status, session_id=session_id, question=question, answer=answer, details=details))
    return event_id


class AuditStore:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:  # configured but unreachable: say so at start-up
            raise RuntimeError(f"audit database {self.engine.url.render_as_string(hide_password=True)} "
                               f"is not reachable: {exc.__class__.__name__}: {exc}") from exc

    def record(self, kind: str, channel: str, status: str, question: str | None, answer: str | None,
               details: dict[str, Any], session_id: str | None = None) -> str:
        with self.engine.begin() as conn:
            return record_event(conn, kind, channel, status, question, answer, details, session_id)

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(audit_events).where(audit_events.c.id == event_id)).mappings().first()
        return dict(row) if row else None

    def count(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(audit_events.c.id)).all())

    def close(self) -> None:
        self.engine.dispose()
