"""Read-only requests are audit events too (kind `lookup`): who asked — X-Client-Id, else the address
that connected —, the masked query, the filters and what was found. One helper for every read route."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.composition import Services
from app.domain import SearchFilters
from app.security.pii import mask_personal_data


def record_read(services: Services, request: Request, endpoint: str, status: str, q: str | None,
                details: dict[str, Any]) -> None:
    client = request.headers.get("x-client-id") or (request.client.host if request.client else "unknown")
    services.audit.record("lookup", "api", status, mask_personal_data(q).text if q else None, None,
                          {"endpoint": endpoint, "client": mask_personal_data(client[:100]).text, **details})


def filter_record(filters: SearchFilters) -> dict[str, Any]:
    """The filters a caller set, as stored (defaults and the date of the day left out)."""
    return {k: v for k, v in vars(filters).items() if v not in (None, False, []) and k != "today"}
