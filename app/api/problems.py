"""Errors as RFC 9457 problem details (`application/problem+json`), for every route.

A validation error names the field it is about (`errors[].field`), so a calling system can show
or log which parameter was wrong without parsing prose.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.clients.vector_store import StoreUnavailable
from jingce_client.models import FieldError, Problem

log = logging.getLogger("jingce.api")

MEDIA_TYPE = "application/problem+json"

# plainer words than a regular expression for parameters that must match a pattern
PATTERN_HINTS: dict[str, str] = {}


class ProblemError(Exception):
    """Raise from a route to answer with a problem; `field` names the parameter at fault."""

    def __init__(self, status: int, detail: str, field: str | None = None, location: str = "query") -> None:
        super().__init__(detail)
        self.status, self.detail, self.field, self.location = status, detail, field, location


# what a caller reads while the vector store (a Qdrant server) cannot be reached
STORE_DOWN = "the policy index is unreachable right now; nothing was lost — try again shortly"


# routes of the OpenAI protocol (routes_openai.py): their clients read errors in OpenAI's shape
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 422: "invalid_request_error", 429: "rate_limit_error"}


def problem_response(request: Request, status: int, detail: str | None,
                     errors: list[FieldError] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    if request.url.path in OPENAI_PATHS:
        error = {"message": detail or HTTPStatus(status).phrase, "type": _OPENAI_TYPES.get(status, "server_error"),
                 "param": errors[0].field if errors else None, "code": HTTPStatus(status).phrase.lower().replace(" ", "_")}
        return JSONResponse({"error": error}, status_code=status, headers=headers)
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, instance=request.url.path,
                   errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting problem bodies for these statuses."""
    return {status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses}


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError):
        errors = [FieldError(field=exc.field, location=exc.location, message=exc.detail)] if exc.field else []
        detail = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
        return problem_response(request, exc.status, detail, errors)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable):
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem_response(request, 503, STORE_DOWN, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # FastAPI reads a JSON body before the route's dependencies run: a body that does not parse
        # would be answered 422 before anyone asked who is calling. Ask now — no key is a 401, a key of
        # the wrong role a 403, a flood a 429 — and only a caller who may call hears what was wrong.
        if getattr(request.state, "caller", None) is None:
            from app.api.access import authorize

            try:
                await authorize(request)
            except StarletteHTTPException as denied:
                return await _http(request, denied)
        errors = []
        for error in exc.errors():
            loc = [str(part) for part in error.get("loc", ())]
            location = loc[0] if loc else "request"
            field = ".".join(loc[1:]) or location
            message = error.get("msg", "invalid")
            if error.get("type") == "string_pattern_mismatch" and field in PATTERN_HINTS:
                message = PATTERN_HINTS[field]
            errors.append(FieldError(field=field, location=location, message=message))
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
        return problem_response(request, 422, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        # Starlette logs the exception with its traceback after this; the caller gets a problem, not text
        return problem_response(request, 500, "an internal error; it was logged")

    original = app.openapi

    def openapi() -> dict[str, Any]:
        # problem bodies are documented under their own media type, as RFC 9457 asks
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    body = content.get("application/json", {}).get("schema", {})
                    if body.get("$ref", "").endswith("/Problem"):
                        content[MEDIA_TYPE] = content.pop("application/json")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
