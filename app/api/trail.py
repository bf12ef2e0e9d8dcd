"""Every request that reaches a route leaves a trace (ASGI middleware, inside the hardening):

- an audit event, when the route did not record one itself — a 422 the validation raised, a 409, a
  500, a route that answers without recording; kind `request`, status `http_<code>`, with the
  method, the path (never the query string) and who called. /healthz is not recorded;
- one access-log line (SERVER_ACCESS_LOG): method, path without its query string, status,
  milliseconds, the caller's role and key id — the query string could hold a citizen's question.
"""

from __future__ import annotations

import logging
import time

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.access import PUBLIC, ROUTE_ROLES, route_key
from app.audit.store import AuditEvent
from app.security.pii import mask_personal_data

log = logging.getLogger("jingce.access")


class Trail:
    def __init__(self, app: ASGIApp, services_of, access_log: bool = True) -> None:
        self.app, self.services_of, self.access_log = app, services_of, access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        state = scope.setdefault("state", {})

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            declared = ROUTE_ROLES.get(route_key(route, scope["method"])) if route is not None else None
            if declared is not None and declared != PUBLIC and not state.get("audited"):
                await self._record(scope, state, status)
            if self.access_log:
                caller = state.get("caller")
                log.info("%s %s %s %.0fms %s", scope["method"], mask_personal_data(scope["path"]).text, status,
                         (time.perf_counter() - started) * 1000, caller.actor if caller else "-")

    async def _record(self, scope: Scope, state: dict, status: int) -> None:
        caller = state.get("caller")
        client = scope.get("client")
        event = AuditEvent("request", "api", f"http_{status}", actor=caller.actor if caller else None, details={
            "method": scope["method"], "path": mask_personal_data(scope["path"]).text, "route": scope["route"].path,
            "client": client[0] if client else None})
        try:
            await run_in_threadpool(self.services_of(scope).audit.record, event)
        except Exception:  # the response has gone: say loudly that its record could not be written
            log.exception("audit record of %s %s (%s) could not be written", scope["method"], scope["path"], status)
