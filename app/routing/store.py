"""Routing suggestions and the agents' decisions, in the audit database (SQLite by default,
PostgreSQL via DATABASE_URL). Each is written in one transaction with its audit event.

Agreement: a decision agrees when the agent accepted the suggestion or chose its lead department.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text,
                        case, cast, func, insert, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app.audit.store import AuditEvent, AuditStore
from app.domain import in_utc
from app.security.pii import mask_personal_data
from app.routing.places import Places
from app.routing.hot_topics import HotTicket
from app.routing.results import Suggestion

metadata = MetaData()

suggestions = Table(
    "routing_suggestions", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("agent", String(64)),
    Column("ticket", Text, nullable=False),  # masked
    Column("category", String(32), index=True),
    Column("lead_department", String(64), nullable=False, index=True),
    Column("confidence", Float),
    Column("needs_review", Boolean, nullable=False),
    Column("model_version", String(64)),
    Column("details", JSON, nullable=False),  # the whole suggestion as returned
    Column("district", String(16)),  # where the ticket is, as FindPlace read it (also in details)
    Column("street", String(32)),
)

decisions = Table(
    "routing_decisions", metadata,
    Column("id", String(36), primary_key=True),
    Column("suggestion_id", String(36), ForeignKey("routing_suggestions.id"), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("agent", String(64)),
    Column("action", String(16), nullable=False),  # accept | override
    Column("department", String(64), nullable=False),
    Column("co_handlers", JSON, nullable=False),
    Column("category", String(32)),
    Column("reason", Text),
    Column("agreed", Boolean, nullable=False),
)


def _masked(text: str | None) -> str | None:
    return mask_personal_data(text).text if text else text


class AlreadyDecided(Exception):
    pass


@dataclass(frozen=True)
class DecidedTicket:
    ticket: str  # masked
    department: str  # the lead the agent chose
    category: str | None
    action: str  # accept | override
    suggested: str  # the lead the suggestion named
    decided_at: dt.datetime


@dataclass
class StoredDecision:
    id: str
    suggestion_id: str
    created_at: dt.datetime
    action: str
    department: str
    category: str | None
    agreed: bool


class RoutingStore:
    def __init__(self, audit: AuditStore) -> None:
        self.audit = audit  # the tables are made by the audit store's migrations
        self.engine: Engine = audit.engine

    def save_suggestion(self, suggestion: Suggestion, channel: str, agent: str | None, actor: str | None = None) -> str:
        """Stores the suggestion under its id, with its audit event; returns the event's id."""
        agent = _masked(agent)
        lead = suggestion.lead.department.id
        category = (suggestion.category.label or suggestion.category.level1) if suggestion.category else None
        status = "needs_review" if suggestion.needs_review else "suggested"
        with self.audit.writing() as conn:
            conn.execute(insert(suggestions).values(
                id=suggestion.id, created_at=dt.datetime.now(dt.timezone.utc), channel=channel, agent=agent,
                ticket=suggestion.ticket, category=category, lead_department=lead,
                confidence=suggestion.category.confidence if suggestion.category else None,
                needs_review=suggestion.needs_review, model_version=suggestion.model.version,
                details=suggestion.as_record(), district=suggestion.place.district, street=suggestion.place.street))
            return self.audit.append(conn, AuditEvent("suggestion", channel, status, suggestion.ticket, lead, {
                "suggestion_id": suggestion.id, "agent": agent, "category": category,
                "departments": [d.department.id for d in suggestion.departments],
                "needs_review": suggestion.needs_review, "place": Places.said(suggestion.place)},
                actor=actor, department=lead))

    def suggestion(self, suggestion_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(suggestions).where(suggestions.c.id == suggestion_id)).mappings().first()
        return dict(row) if row else None

    def decide(self, found: dict[str, Any], action: str, department: str, co_handlers: list[str],
               category: str | None, reason: str | None, agent: str | None, channel: str,
               actor: str | None = None) -> tuple[StoredDecision, str]:
        """Records the decision on `found` (a row from `suggestion`); AlreadyDecided on a second one. The
        agent's free text (reason, agent id) is masked like a ticket before it is stored."""
        reason, agent = _masked(reason), _masked(agent)
        suggestion_id = found["id"]
        agreed = action == "accept" or department == found["lead_department"]
        decision = StoredDecision(str(uuid.uuid4()), suggestion_id, dt.datetime.now(dt.timezone.utc), action,
                                  department, category or found["category"], agreed)
        try:
            with self.audit.writing() as conn:
                conn.execute(insert(decisions).values(
                    id=decision.id, suggestion_id=suggestion_id, created_at=decision.created_at, agent=agent,
                    action=action, department=department, co_handlers=co_handlers, category=decision.category,
                    reason=reason, agreed=agreed))
                event = self.audit.append(conn, AuditEvent("decision", channel, action, found["ticket"], department, {
                    "suggestion_id": suggestion_id, "decision_id": decision.id, "agent": agent,
                    "suggested": found["lead_department"], "department": department, "co_handlers": co_handlers,
                    "category": decision.category, "reason": reason, "agreed": agreed,
                    "place": Places.said((found.get("details") or {}).get("place"))},
                    actor=actor, department=found["lead_department"], agreed=agreed))
        except IntegrityError:
            raise AlreadyDecided(suggestion_id) from None
        return decision, event

    def recent_decisions(self, limit: int, agent: str | None = None) -> list[dict[str, Any]]:
        """The latest decisions, newest first, each with its (masked) ticket and what was suggested."""
        query = (select(decisions.c.id, decisions.c.suggestion_id, decisions.c.created_at, decisions.c.agent,
                        decisions.c.action, decisions.c.department, decisions.c.co_handlers, decisions.c.category,
                        decisions.c.reason, decisions.c.agreed, suggestions.c.ticket,
                        suggestions.c.lead_department.label("suggested"))
                 .join(suggestions, decisions.c.suggestion_id == suggestions.c.id)
                 .order_by(decisions.c.created_at.desc(), decisions.c.id.desc()).limit(limit))
        if agent is not None:
            query = query.where(decisions.c.agent == _masked(agent))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def decided_tickets(self) -> list[DecidedTicket]:
        """Every decision with its (masked) ticket, oldest first: what the router learns from and shows
        agents as the hotline's own precedent."""
        query = (select(suggestions.c.ticket, decisions.c.department, decisions.c.category, decisions.c.action,
                        suggestions.c.lead_department, decisions.c.created_at)
                 .join(decisions, decisions.c.suggestion_id == suggestions.c.id).order_by(decisions.c.created_at))
        with self.engine.connect() as conn:
            return [DecidedTicket(*row[:5], in_utc(row[5])) for row in conn.execute(query)]

    def tickets_between(self, since: dt.datetime, until: dt.datetime, limit: int) -> list[HotTicket]:
        """The newest `limit` tickets suggested in [since, until), with their place and category."""
        query = (select(suggestions.c.id, suggestions.c.ticket, suggestions.c.created_at, suggestions.c.district,
                        suggestions.c.street, suggestions.c.category)
                 .where(suggestions.c.created_at >= since, suggestions.c.created_at < until)
                 .order_by(suggestions.c.created_at.desc(), suggestions.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [HotTicket(row.id, row.ticket, in_utc(row.created_at), row.district, row.street, row.category)
                    for row in conn.execute(query)]

    def stats(self, since: dt.datetime | None, until: dt.datetime | None) -> dict[str, Any]:
        """Agreement over decisions made in [since, until), overall, per suggested lead department and
        per suggested category; suggestions made in the same range, with how many await a decision.
        SQL aggregates only: the decisions are counted where they are, never loaded."""
        def window(column):
            conditions = []
            if since is not None:
                conditions.append(column >= since)
            if until is not None:
                conditions.append(column < until)
            return conditions

        with self.engine.connect() as conn:
            made = conn.execute(select(func.count(), func.sum(cast(suggestions.c.needs_review, Integer)))
                                .where(*window(suggestions.c.created_at))).one()
            pending = conn.execute(select(func.count()).select_from(
                suggestions.outerjoin(decisions, decisions.c.suggestion_id == suggestions.c.id))
                .where(decisions.c.id.is_(None), *window(suggestions.c.created_at))).scalar_one()
            joined = suggestions.join(decisions, decisions.c.suggestion_id == suggestions.c.id)
            in_range = window(decisions.c.created_at)
            agreed = func.sum(cast(decisions.c.agreed, Integer))
            overrides = func.sum(case((decisions.c.action == "override", 1), else_=0))
            total = conn.execute(select(func.count(), agreed, overrides).select_from(joined).where(*in_range)).one()
            category = func.coalesce(suggestions.c.category, "未分类")
            by_department = conn.execute(select(suggestions.c.lead_department, func.count(), agreed).select_from(joined)
                                         .where(*in_range).group_by(suggestions.c.lead_department)).all()
            by_category = conn.execute(select(category, func.count(), agreed).select_from(joined)
                                       .where(*in_range).group_by(category)).all()

        def rate(decided: int, agreed_n: int | None) -> dict[str, Any]:
            agreed_n = int(agreed_n or 0)
            return {"decided": decided, "agreed": agreed_n, "agreement_rate": agreed_n / decided if decided else None}

        return {
            "suggestions": int(made[0] or 0), "review_share": float(made[1] or 0) / made[0] if made[0] else None,
            "pending": int(pending), **rate(total[0], total[1]), "overrides": int(total[2] or 0),
            "by_department": {k: rate(n, a) for k, n, a in sorted(by_department)},
            "by_category": {k: rate(n, a) for k, n, a in sorted(by_category)},
        }
