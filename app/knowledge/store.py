"""Knowledge entries proposed at the desk and their review, in the audit database: each change is
written in one transaction with its audit event (kind `knowledge`, status proposed | approved |
rejected). The entries shipped in policies/hotline/knowledge/ are files, not rows: they are indexed
by the ordinary sync."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Text, insert, or_, select, update

from app.audit.store import AuditEvent, AuditStore
from ingestion.knowledge import KnowledgeEntry

metadata = MetaData()

entries = Table(
    "knowledge_entries", metadata,
    Column("id", String(64), primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("department", String(64)),
    Column("category", JSON, nullable=False),
    Column("district", String(16)),
    Column("street", String(32)),
    Column("basis", JSON, nullable=False),
    Column("effective", String(10)),
    Column("review_by", String(10)),
    Column("source", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("suggestion_id", String(36)),
    Column("proposed_by", String(128)),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    Column("reviewed_by", String(128)),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("review_note", Text),
)

_ENTRY_FIELDS = tuple(f.name for f in fields(KnowledgeEntry))


class NotProposed(Exception):
    """The entry was already reviewed: approve and reject act on proposed entries only."""


def entry_of(row: dict[str, Any]) -> KnowledgeEntry:
    return KnowledgeEntry(**{k: row[k] for k in _ENTRY_FIELDS})


class KnowledgeStore:
    def __init__(self, audit: AuditStore) -> None:
        self.audit = audit  # the table is made by the audit store's migrations (0003)
        self.engine = audit.engine

    def propose(self, entry: KnowledgeEntry, proposed_by: str | None, suggestion_id: str | None,
                channel: str, actor: str | None) -> dict[str, Any]:
        """Stores the entry with its audit event; returns the row as written."""
        row = {**entry.as_record(), "suggestion_id": suggestion_id, "proposed_by": proposed_by,
               "proposed_at": dt.datetime.now(dt.timezone.utc)}
        with self.audit.writing() as conn:
            conn.execute(insert(entries).values(**row))
            self.audit.append(conn, AuditEvent(
                "knowledge", channel, "proposed", entry.question, entry.answer,
                {"entry_id": entry.id, "department": entry.department, "basis": entry.basis,
                 "suggestion_id": suggestion_id, "proposed_by": proposed_by}, actor=actor, department=entry.department))
        return row

    def review(self, entry_id: str, state: str, reviewer: str | None, note: str | None, channel: str,
               actor: str | None) -> tuple[dict[str, Any], str]:
        """Approves or rejects a proposed entry (KeyError: no such entry; NotProposed: reviewed already)."""
        now = dt.datetime.now(dt.timezone.utc)
        with self.audit.writing() as conn:
            row = conn.execute(select(entries).where(entries.c.id == entry_id)).mappings().first()
            if row is None:
                raise KeyError(entry_id)
            if row["state"] != "proposed":
                raise NotProposed(row["state"])
            conn.execute(update(entries).where(entries.c.id == entry_id).values(
                state=state, reviewed_by=reviewer, reviewed_at=now, review_note=note))
            event = self.audit.append(conn, AuditEvent(
                "knowledge", channel, state, row["question"], row["answer"],
                {"entry_id": entry_id, "note": note, "reviewed_by": reviewer}, actor=actor,
                department=row["department"]))
        return {**dict(row), "state": state, "reviewed_by": reviewer, "reviewed_at": now, "review_note": note}, event

    def get(self, entry_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(entries).where(entries.c.id == entry_id)).mappings().first()
        return dict(row) if row else None

    def listing(self, state: str | None, query: str | None, limit: int) -> list[dict[str, Any]]:
        statement = select(entries).order_by(entries.c.proposed_at.desc()).limit(limit)
        if state:
            statement = statement.where(entries.c.state == state)
        if query:
            like = f"%{query}%"
            statement = statement.where(or_(entries.c.question.like(like), entries.c.answer.like(like)))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(statement).mappings()]

    def approved(self) -> list[KnowledgeEntry]:
        with self.engine.connect() as conn:
            return [entry_of(dict(r)) for r in conn.execute(select(entries).where(entries.c.state == "approved"))
                    .mappings()]
