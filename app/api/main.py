"""The FastAPI application: services are built once in the lifespan from settings."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import problems, routes_chat, routes_policies, routes_search, routes_tickets
from app.api.hardening import Hardening
from app.composition import Services, build_services
from app.config import Settings, get_settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        built = None  # services given, or set on the app before it starts, are not ours to close
        if app.state.services is None:
            built = app.state.services = build_services(settings or get_settings())
        app.state.services.warm_up()
        try:
            yield
        finally:
            if built is not None:
                built.close()

    app = FastAPI(title="京策助手 API", version="0.1.0", lifespan=lifespan,
                  redirect_slashes=False,  # a redirect would echo the request's Host header back
                  description="Search Beijing policy documents. Every hit carries its document's 文号, "
                              "validity and the character offsets of the matching clause.")
    # given services are usable at once, also by ASGI callers that run no lifespan (schemathesis)
    app.state.services = services
    app.include_router(routes_search.router)
    app.include_router(routes_chat.router)
    app.include_router(routes_policies.router)
    app.include_router(routes_tickets.router)
    problems.install(app)
    limits = (settings or (services.settings if services else None) or get_settings()).server
    app.add_middleware(Hardening, max_body_bytes=limits.max_body_bytes)
    return app
