"""What operators and their probes read: `/healthz` (the process answers; routes_search.py), `/readyz`
(each part the service depends on, checked now) and Prometheus `/metrics` (role `admin`: scrapers send
a key as a bearer token). The metrics live in one registry per process; the middleware (trail.py), the
chat route and the ticket route record into it."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from app.api.deps import ServicesDep
from app.clients.vector_store import CHUNKS

router = APIRouter(tags=["ops"])

REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram("jingce_http_request_seconds", "Request latency by route template, method and status",
                            ["method", "route", "status"], registry=REGISTRY,
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
ANSWERS = Counter("jingce_answers_total", "Answers by status, composer and degraded mode",
                  ["status", "composer", "degraded"], registry=REGISTRY)
ANSWER_STEP_SECONDS = Histogram("jingce_answer_step_seconds", "Time spent in each step of the answer pipeline "
                                "(retrieve, compose_answer, … — compose includes the LLM)", ["step"], registry=REGISTRY,
                                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
FIRST_ANSWER_SECONDS = Histogram("jingce_stream_first_answer_seconds", "Streamed answers: from the request to the "
                                 "first answer sentence sent", registry=REGISTRY,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16))
LLM_FALLBACKS = Counter("jingce_llm_fallbacks_total", "Answers the extractive composer gave because the LLM failed",
                        registry=REGISTRY)
SUGGESTIONS = Counter("jingce_suggestions_total", "Routing suggestions by status (suggested, needs_review)",
                      ["status"], registry=REGISTRY)


def count_answer(status: str, composer: str | None, degraded: bool, timings_ms: dict[str, float]) -> None:
    ANSWERS.labels(status, composer or "none", str(bool(degraded)).lower()).inc()
    if degraded:
        LLM_FALLBACKS.inc()
    for step, ms in timings_ms.items():
        ANSWER_STEP_SECONDS.labels(step).observe(ms / 1000)


class Part(BaseModel):
    ok: bool
    required: bool = Field(description="Without it the service cannot answer (store, audit database); the others "
                                       "have a documented degraded mode (docs/runbook.md).")
    detail: str
    ms: float


class Readiness(BaseModel):
    status: str = Field(description="ready | degraded (an optional part is down) | not_ready")
    parts: dict[str, Part]


def _check(required: bool, probe) -> Part:
    started = time.perf_counter()
    try:
        detail = probe() or "ok"
        ok = True
    except Exception as exc:  # a probe's failure is the answer, not an error of the route
        detail, ok = f"{type(exc).__name__}: {exc}"[:300], False
    return Part(ok=ok, required=required, detail=detail, ms=round((time.perf_counter() - started) * 1000, 1))


def _llm(base_url: str | None) -> str:
    if not base_url:
        return "not configured: extractive answers"
    httpx.get(base_url.rstrip("/") + "/models", timeout=2.0).raise_for_status()
    return "ok"


def readiness(services) -> Readiness:
    settings = services.settings
    parts = {
        "store": _check(True, lambda: f"{services.store.count(CHUNKS)} chunks"),
        "audit_database": _check(True, services.audit.ping),
        "sessions": _check(False, services.sessions.ping),
        "rate_limits": _check(False, services.limiter.ping),
        "llm": _check(False, lambda: _llm(settings.llm.base_url)),
    }
    if not all(p.ok for p in parts.values() if p.required):
        status = "not_ready"
    else:
        status = "ready" if all(p.ok for p in parts.values()) else "degraded"
    return Readiness(status=status, parts=parts)


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}},
            summary="Each part the service depends on, checked now")
async def ready(services: ServicesDep, response: Response) -> Any:
    """200 when the store and the audit database answer (`degraded` when Redis or the LLM do not: the
    service still answers, as docs/runbook.md says); 503 otherwise."""
    result = await run_in_threadpool(readiness, services)
    response.status_code = 503 if result.status == "not_ready" else 200
    return result


@router.get("/metrics", response_class=Response, summary="Prometheus metrics of this process")
async def metrics() -> Response:
    # a scrape is recorded like any call of a keyed route (trail.py): ~6k events a day at one per 15 s
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
