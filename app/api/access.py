"""Who may call what — every route the app serves is declared here, once, with the roles it allows.

`docs/access.md` is generated from ROUTE_ROLES (`python -m app.api.access > docs/access.md`);
`create_app` refuses to start with a route left out, and tests/test_access.py walks every route ×
role. Roles: `citizen` (anonymous when AUTH_ANONYMOUS_CITIZENS, or a widget key bound to origins),
`agent` (12345 hotline), `auditor` (reads the audit log), `admin` (manages keys — from the command
line — and may use every route except the audit log's: who hands out keys does not read citizens'
questions).

A key comes as `Authorization: Bearer jc_…` or `X-API-Key: jc_…`. No key where one is needed → 401;
a key of the wrong role, or a widget key used from another origin → 403; past the rate limit → 429
with Retry-After. Each denial is an audit event (kind `access`); a flood of 429s is recorded once a
minute per caller with the count of those not recorded one by one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from app.audit.keys import ROLES, ApiKey, key_id_named
from app.audit.store import AuditEvent
from app.security.pii import mask_personal_data

PUBLIC = "public"
_READERS = ("citizen", "agent", "auditor", "admin")

ROUTE_ROLES: dict[str, tuple[str, ...] | str] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,  # probes carry no key; it names parts and their state, no address or secret
    "GET /metrics": ("admin",),
    "GET /v1/me": _READERS,
    "POST /v1/chat": ("citizen", "agent", "admin"),
    "POST /v1/chat/completions": ("citizen", "agent", "admin"),  # /v1/chat through the OpenAI protocol
    "GET /v1/models": ("citizen", "agent", "admin"),
    "POST /mcp": _READERS,  # the MCP tools (app/api/routes_mcp.py); each tool's roles in TOOL_ROLES
    "GET /v1/search": _READERS,
    "GET /v1/policies": _READERS,
    "GET /v1/policies/facets": _READERS,
    "GET /v1/policies/{doc_id}": _READERS,
    "GET /v1/policies/{doc_id}/chunks/{chunk_id}": _READERS,
    "POST /v1/tickets/route": ("agent", "admin"),
    "POST /v1/tickets/{suggestion_id}/decision": ("agent", "admin"),
    "GET /v1/tickets/stats": ("agent", "auditor", "admin"),
    "GET /v1/tickets/departments": ("agent", "auditor", "admin"),
    "GET /v1/tickets/decisions": ("agent", "auditor", "admin"),
    "GET /v1/tickets/hot": ("agent", "auditor", "admin"),
    "POST /v1/knowledge": ("agent", "admin"),
    "GET /v1/knowledge": ("agent", "auditor", "admin"),
    "POST /v1/knowledge/{entry_id}/approve": ("admin",),  # a reviewer, not the agent who proposed it
    "POST /v1/knowledge/{entry_id}/reject": ("admin",),
    "GET /v1/audit/events": ("auditor",),
    "GET /v1/audit/events/{event_id}": ("auditor",),
    "GET /v1/audit/export": ("auditor",),
    "GET /v1/audit/summary": ("auditor",),
    "GET /v1/audit/verify": ("auditor",),
    # the pages (app/api/pages.py): public — what they show comes from the API calls above, made with
    # the key the page was given
    "GET /demo": PUBLIC,
    "GET /panel": PUBLIC,
    "GET /audit": PUBLIC,
    "GET /widget.js": PUBLIC,
    "GET /assets/{name}": PUBLIC,
    "GET /docs": PUBLIC,
}


# The MCP tools, over HTTP (POST /mcp) and stdio (`jingce mcp`): what each is open to — the routes they
# stand for (GET /v1/search, GET /v1/policies/{doc_id}, POST /v1/chat).
TOOL_ROLES: dict[str, tuple[str, ...]] = {
    "search_policies": ROUTE_ROLES["GET /v1/search"],
    "get_policy": ROUTE_ROLES["GET /v1/policies/{doc_id}"],
    "ask": ROUTE_ROLES["POST /v1/chat"],
}


def route_key(route, method: str) -> str:
    """"GET /v1/policies/{doc_id}": a route (APIRoute, or FastAPI's view of an included one) and a method."""
    return f"{method} {getattr(route, 'path_format', None) or route.path}"


def api_routes(app) -> list[tuple[str, object]]:
    """Every (method, route) the app answers through FastAPI — those of included routers too."""
    out = []
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            if isinstance(context, APIRoute) or hasattr(context, "dependant"):
                out += [(method, context) for method in sorted(context.methods)]
    return out


def undeclared(app) -> list[str]:
    """Routes of the app that ROUTE_ROLES does not name (the app refuses to start with any)."""
    return [route_key(r, m) for m, r in api_routes(app) if route_key(r, m) not in ROUTE_ROLES]


@dataclass(frozen=True)
class Caller:
    role: str
    address: str
    key: ApiKey | None = None

    @property
    def actor(self) -> str:
        return self.key.actor if self.key else "citizen anonymous"

    @property
    def limit_key(self) -> str:
        # a widget key is shared by every visitor of a site: its citizens are counted per address
        if self.key is None or self.role == "citizen":
            return f"{self.key.id if self.key else 'anon'}@{self.address}"
        return self.key.id


def client_address(request: Request) -> str:
    """The address that connected — or, behind a configured proxy, the one it forwarded (uvicorn
    believes X-Forwarded-For only from SERVER_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


class _Flood:
    """Counts 429s per caller so that one event a minute says how many there were."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, tuple[float, int]] = {}

    def record_now(self, who: str) -> int | None:
        """None: only counted; else record, with this many left unrecorded before it."""
        now = time.monotonic()
        with self._lock:
            last, unrecorded = self._since.get(who, (0.0, 0))
            if now - last < 60:
                self._since[who] = (last, unrecorded + 1)
                return None
            self._since[who] = (now, 0)
            return unrecorded

    def drain(self, quiet_s: float = 60.0) -> list[tuple[str, int]]:
        """The callers whose 429s stopped `quiet_s` ago with some not yet recorded: a flood's last minute
        would otherwise go unrecorded (the count waits for a next 429 that never comes)."""
        now = time.monotonic()
        with self._lock:
            ended = [(who, n) for who, (last, n) in self._since.items() if n and now - last >= quiet_s]
            for who, _ in ended:
                del self._since[who]
            for who in [w for w, (last, n) in self._since.items() if not n and now - last >= quiet_s]:
                del self._since[who]
        return ended


_flood = _Flood()


def record_ended_floods(services, quiet_s: float = 60.0) -> int:
    """Writes the count of each flood's unrecorded 429s once it has stopped (the service's clock calls
    this; at shutdown with quiet_s 0). Returns how many callers were written."""
    ended = _flood.drain(quiet_s)
    for who, count in ended:
        services.audit.record(AuditEvent("access", "api", "rate_limited", actor="anonymous", details={
            "caller": mask_personal_data(who).text, "unrecorded_before": count, "flood_ended": True}))
    return len(ended)


async def authorize(request: Request) -> Caller:
    """The app-wide dependency: who is calling, may they call this route, are they within their limit."""
    route = request.scope.get("route")
    allowed = ROUTE_ROLES[route_key(route, request.method)]
    address = client_address(request)
    if allowed == PUBLIC:
        caller = Caller("citizen", address)
        request.state.caller = caller
        return caller
    services = request.app.state.services
    auth = services.settings.auth
    presented = presented_key(request)
    if presented:
        # failed checks are counted per address before any argon2 work: guessing secrets (or a forged
        # `jc_<real id>_<wrong secret>`) costs the guesser a 429, not the service a hash a try
        strikes, allowance = f"badkey@{address}", auth.failed_keys_per_minute
        named = {"key_id": key_id_named(presented)}
        wait = services.limiter.peek(strikes, allowance) if allowance else None
        key = await run_in_threadpool(services.keys.authenticate, presented, wait is None)
        if key is None and wait is not None:
            unrecorded = _flood.record_now(strikes)
            await _deny(request, 429, "rate_limited", f"more than {allowance} failed key checks from this address "
                        f"in 60 s; try again in {int(wait) + 1} s", address, record=unrecorded is not None,
                        headers={"Retry-After": str(int(wait) + 1)}, extra={**named, "unrecorded_before": unrecorded})
        if key is None:
            if allowance:
                services.limiter.hit(strikes, allowance)
            await _deny(request, 401, "unauthenticated", "the API key is unknown or revoked", address, extra=named)
        if key.origins and request.headers.get("origin") not in key.origins:
            await _deny(request, 403, "forbidden", "this key may only be used from the pages of "
                        + ", ".join(key.origins), address, key)
        caller = Caller(key.role, address, key)
    elif auth.anonymous_citizens:
        caller = Caller("citizen", address)
    else:
        await _deny(request, 401, "unauthenticated", "this service needs an API key "
                    "(Authorization: Bearer jc_… or X-API-Key)", address)
    if caller.role not in allowed:
        if caller.key is None:
            await _deny(request, 401, "unauthenticated", f"this route needs a key of the role {' or '.join(allowed)}",
                        address)
        request.state.caller = caller  # named in the access log line of the refusal
        await _deny(request, 403, "forbidden", f"this route is not open to the {caller.role} role "
                    f"(it needs {' or '.join(allowed)})", address, caller.key)
    limit = getattr(auth, f"{caller.role}_per_minute")
    for who, per_minute in ((caller.limit_key, limit), (f"addr@{address}", auth.address_per_minute)):
        if per_minute:
            wait = services.limiter.hit(who, per_minute)
            if wait is not None:
                unrecorded = _flood.record_now(who)
                await _deny(request, 429, "rate_limited", f"more than {per_minute} requests in 60 s; try again in "
                            f"{int(wait) + 1} s", address, caller.key, record=unrecorded is not None,
                            headers={"Retry-After": str(int(wait) + 1)}, extra={"unrecorded_before": unrecorded})
    request.state.caller = caller
    return caller


async def _deny(request: Request, status: int, outcome: str, detail: str, address: str, key: ApiKey | None = None,
                record: bool = True, headers: dict[str, str] | None = None, extra: dict | None = None) -> None:
    if record:
        services = request.app.state.services
        event = AuditEvent("access", "api", outcome, actor=key.actor if key else "anonymous", details={
            "method": request.method, "path": mask_personal_data(request.url.path).text, "client": address, "http_status": status,
            "detail": detail, **(extra or {})})
        await run_in_threadpool(services.audit.record, event)
    request.state.audited = True
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    raise HTTPException(status, detail=detail, headers=headers)


_DENIALS = {"401": "No key, or a key unknown or revoked, where the route needs one",
            "403": "A key of a role this route is not open to, or a widget key used from another origin",
            "429": "Past the caller's rate limit; Retry-After says when to come back"}


def document_access(schema: dict) -> dict:
    """The OpenAPI document says how to authenticate and, on every route that is not public, which roles
    it is open to and the 401 / 403 / 429 problems a caller may get."""
    from app.api.problems import MEDIA_TYPE

    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update({
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer jc_…"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}})
    problem = {"content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            roles = ROUTE_ROLES.get(f"{method.upper()} {path}")
            if roles is None or roles == PUBLIC:
                continue
            optional = [{}] if "citizen" in roles else []  # anonymous citizens need no key
            operation["security"] = [{"bearer": []}, {"apiKey": []}, *optional]
            operation["description"] = (operation.get("description") or "") + f"\n\nRoles: {', '.join(roles)}."
            for status, description in _DENIALS.items():
                operation.setdefault("responses", {}).setdefault(status, {"description": description, **problem})
            operation["responses"]["429"].setdefault("headers", {"Retry-After": {"schema": {"type": "integer"},
                                                                                 "description": "Seconds to wait"}})
    return schema


def access_markdown() -> str:
    lines = ["# Who may call what", "",
             "Generated from `ROUTE_ROLES` in `app/api/access.py` (`python -m app.api.access > docs/access.md`);",
             "`tests/test_access.py` fails when this page or a route's declaration is missing.", "",
             "| route | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for route, roles in ROUTE_ROLES.items():
        cells = ["open to all" if roles == PUBLIC else ("yes" if role in roles else "—") for role in ROLES]
        lines.append(f"| `{route}` | " + " | ".join(cells) + " |")
    lines += ["", "The MCP tools (`POST /mcp`, and `jingce mcp` over stdio with the key it is started with):", "",
              "| tool | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for tool, roles in TOOL_ROLES.items():
        lines.append(f"| `{tool}` | " + " | ".join("yes" if role in roles else "—" for role in ROLES) + " |")
    lines += ["", "`/docs` and `/openapi.json` are served to anyone when `AUTH_PUBLIC_DOCS` is true (the "
              "default) and not at all otherwise.", "Without a key a request acts as an anonymous citizen when "
              "`AUTH_ANONYMOUS_CITIZENS` is true (the default)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(access_markdown(), end="")
