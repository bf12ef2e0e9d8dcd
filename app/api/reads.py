"""Read-only requests are audit events too (kind `lookup`): who asked — the caller's key and role,
and the address that connected —, the masked query, the filters and what was found. One helper for
every read route; it marks the request as recorded, so the trail does not record it twice."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.api.access import client_address
from app.audit.store import AuditEvent
from app.composition import Services
from app.domain import SearchFilters
from app.security.pii import mask_personal_data


def actor_of(request: Request) -> str | None:
    caller = getattr(request.state, "caller", None)
    return caller.actor if caller else None


def record_read(services: Services, request: Request, endpoint: str, status: str, q: str | None,
                details: dict[str, Any]) -> str:
    event_id = record_lookup(services, "api", endpoint, status, q, details, client_address(request),
                             actor_of(request))
    request.state.audited = True
    return event_id


def record_lookup(services: Services, channel: str, endpoint: str, status: str, q: str | None,
                  details: dict[str, Any], client: str, actor: str | None) -> str:
    """The `lookup` event of a read, whichever way it came (the HTTP API, an MCP tool)."""
    return services.audit.record(AuditEvent(
        "lookup", channel, status, mask_personal_data(q).text if q else None, None,
        {"endpoint": endpoint, "client": client, **masked(details)}, actor=actor))


def masked(value: Any) -> Any:
    """Every string in a record masked: a doc id, a filter value, a cursor is what the caller typed."""
    if isinstance(value, str):
        return mask_personal_data(value).text
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def filter_record(filters: SearchFilters) -> dict[str, Any]:
    """The filters a caller set, as stored (defaults and the date of the day left out)."""
    return {k: v for k, v in vars(filters).items() if v not in (None, False, []) and k != "today"}
