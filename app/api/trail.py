"""Every request that reaches a route leaves a trace (ASGI middleware, inside the hardening):

- an audit event, when the route did not record one itself — a 422 the validation raised, a 409, a
  500, a route that answers without recording; kind `request`, status `http_<code>`, with the
  method, the path (never the query string) and who called. /healthz is not recorded;
- one access-log line (SERVER_ACCESS_LOG): method, path without its query string, status,
  milliseconds, the caller's role and key id, the request id — the query string could hold a
  citizen's question;
- a request id: the caller's `X-Request-ID` when it is a plain token, else a new one; sent back in
  the response's `X-Request-ID` and written into the details of every audit event of the request;
- the request's latency in the `jingce_http_request_seconds` histogram (by route template).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.access import PUBLIC, ROUTE_ROLES, route_key
from app.api.operations import REQUEST_SECONDS
from app.audit.store import REQUEST_ID, AuditEvent
from app.security.pii import mask_personal_data

log = logging.getLogger("jingce.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Trail:
    def __init__(self, app: ASGIApp, services_of, access_log: bool = True) -> None:
        self.app, self.services_of, self.access_log = app, services_of, access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        state = scope.setdefault("state", {})
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            REQUEST_SECONDS.labels(scope["method"], route.path if route is not None else "unmatched",
                                   str(status)).observe(time.perf_counter() - started)
            declared = ROUTE_ROLES.get(route_key(route, scope["method"])) if route is not None else None
            if declared is not None and declared != PUBLIC and not state.get("audited"):
                await self._record(scope, state, status)
            if self.access_log:
                caller = state.get("caller")
                path, ms, actor = mask_personal_data(scope["path"]).text, (time.perf_counter() - started) * 1000, \
                    caller.actor if caller else "-"
                log.info("%s %s %s %.0fms %s %s", scope["method"], path, status, ms, actor, request_id,
                         extra={"method": scope["method"], "path": path, "status": status, "ms": round(ms, 1),
                                "actor": actor})
            REQUEST_ID.reset(token)

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
