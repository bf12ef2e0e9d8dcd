"""The FastAPI application: services are built once in the lifespan from settings."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sse_starlette.sse import AppStatus

from app.api import (operations, problems, routes_audit, routes_chat, routes_mcp, routes_me, routes_openai,
                     routes_policies, routes_search, routes_knowledge, routes_tickets)
from app.api.pages import pages_router
from app.api.access import authorize, document_access, record_ended_floods, undeclared
from app.api.hardening import Hardening
from app.api.trail import Trail
from app.composition import Services, build_services
from app.config import Settings, get_settings

log = logging.getLogger(__name__)


# sse-starlette ends every open stream the moment the server is told to stop; a resident would lose
# the answer being written. Left to uvicorn, SIGTERM stops new connections and waits for open ones
# (streams included) up to SERVER_GRACEFUL_S (`jingce serve`), then closes what is left.
AppStatus.disable_automatic_graceful_drain()


async def _housekeeping(services: Services) -> None:
    """The service's clock. Quiet times too get their signed head: an event is under one within
    AUDIT_HEAD_EVERY_SECONDS (and a tenth of it), not only once the next N events come. A flood of 429s
    that stopped gets its last minute's count written."""
    heads = services.audit.heads
    period = min(15.0, max(0.5, heads.every_seconds / 10)) if heads else 15.0
    while True:
        await asyncio.sleep(period)
        for chore in (services.audit.sign_head, lambda: record_ended_floods(services)):
            try:
                await asyncio.to_thread(chore)
            except Exception as exc:  # noqa: BLE001 - a database outage: the next tick tries again
                log.warning("housekeeping failed: %s: %s", exc.__class__.__name__, exc)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else None) or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        built = None  # services given, or set on the app before it starts, are not ours to close
        if app.state.services is None:
            built = app.state.services = build_services(settings, serving=True)
        app.state.services.warm_up()
        clock = asyncio.create_task(_housekeeping(app.state.services))
        try:
            app.state.mcp = routes_mcp.http_server(app)  # a transport runs once: a new one per start
            async with app.state.mcp.session_manager.run():
                yield
        finally:
            clock.cancel()
            try:
                record_ended_floods(app.state.services, quiet_s=0)
            except Exception as exc:  # noqa: BLE001 - the database is gone: nothing more can be written
                log.warning("the last rate-limit counts were not written: %s", exc)
            if built is not None:
                built.close()

    docs = settings.auth.public_docs
    app = FastAPI(title="京策助手 API", version="0.1.0", lifespan=lifespan,
                  redirect_slashes=False,  # a redirect would echo the request's Host header back
                  dependencies=[Depends(authorize)],  # every route: who calls, may they, within their limit
                  docs_url=None, redoc_url=None,  # /docs: app/api/pages.py, from vendored files (no CDN)
                  openapi_url="/openapi.json" if docs else None,
                  description="Search Beijing policy documents. Every hit carries its document's 文号, "
                              "validity and the character offsets of the matching clause.")
    # given services are usable at once, also by ASGI callers that run no lifespan (schemathesis)
    app.state.services = services
    for module in (routes_search, routes_chat, routes_openai, routes_mcp, routes_policies, routes_tickets,
                   routes_knowledge, routes_audit, routes_me, operations):
        app.include_router(module.router)
    app.include_router(pages_router(docs))
    missing = undeclared(app)
    if missing:  # a route nobody said who may call is a route anybody may call: refuse to start
        raise RuntimeError(f"routes without roles in app/api/access.py ROUTE_ROLES: {', '.join(missing)}")
    problems.install(app)
    documented = app.openapi

    def openapi() -> dict:  # the problems' media type first (problems.install), then who may call what
        if app.openapi_schema is None:
            app.openapi_schema = document_access(documented())
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(Trail, services_of=lambda scope: scope["app"].state.services,
                       access_log=settings.server.access_log)
    if settings.server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.server.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "X-API-Key",
                                                                         "Content-Type", "Accept"], max_age=600)
    app.add_middleware(Hardening, max_body_bytes=settings.server.max_body_bytes)
    return app
