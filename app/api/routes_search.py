"""Health and search routes."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from app.api.deps import ServicesDep
from app.api.reads import filter_record, record_read
from app.api.problems import problem_responses
from app.api.schemas import Health, SearchHitOut, SearchResponse
from app.clients.vector_store import CHUNKS, StoreUnavailable
from app.config import Settings
from app.domain import LEVELS, SearchFilters

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["ops"])
def health(services: ServicesDep) -> Health:
    """The process answers (a liveness probe): 200 even while the store is down — restarting the app
    would not bring Qdrant back; /readyz takes it out of the load balancer instead."""
    try:
        chunks: int | None = services.store.count(CHUNKS)
        status = "ok" if chunks else "empty: run `jingce ingest`"
    except StoreUnavailable:
        chunks, status = None, "store unreachable: see /readyz"
    return Health(status=status, chunks=chunks, store=services.settings.qdrant.url or "qdrant-edge",
                  embedder=services.embedder.model_id)


def _date(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise HTTPException(422, detail=f"{name}: not a date (YYYY-MM-DD): {value!r}") from None


def search_arguments_problem(settings: Settings, q: str, top_k: int | None, level: str | None,
                             q_name: str = "q") -> str | None:
    """What is wrong with a search's arguments, as `name: reason` (None: nothing) — for /v1/search and
    the MCP tool search_policies alike."""
    if len(q) > settings.server.max_query_chars:
        return f"{q_name}: longer than {settings.server.max_query_chars} characters"
    if not q.strip():
        return f"{q_name}: empty"
    if top_k is not None and top_k > settings.retrieval.max_top_k:
        return f"top_k: at most {settings.retrieval.max_top_k}"
    if level is not None and level not in LEVELS:
        return f"level: must be one of {', '.join(LEVELS)}"
    return None


@router.get("/v1/search", response_model=SearchResponse, tags=["search"], responses=problem_responses(422))
async def search(
    request: Request,
    services: ServicesDep,
    q: str = Query(..., min_length=1, description="The question or keywords."),
    top_k: int | None = Query(None, ge=1, description="Results wanted; default RETRIEVAL_TOP_K, at most "
                                                      "RETRIEVAL_MAX_TOP_K."),
    include_not_in_force: bool = Query(False, description="Also return documents known to be out of force "
                                                         "(已修订, 已失效, 已废止, or past their end date)."),
    issuer: str | None = None,
    district: str | None = None,
    level: str | None = Query(None, description="国家 | 市级 | 区级"),
    published_from: str | None = Query(None, description="YYYY-MM-DD"),
    published_to: str | None = Query(None, description="YYYY-MM-DD"),
    doc_id: list[str] | None = Query(None),
) -> SearchResponse:
    problem = search_arguments_problem(services.settings, q, top_k, level)
    if problem:
        raise HTTPException(422, detail=problem)
    filters = SearchFilters(include_not_in_force=include_not_in_force, issuer=issuer, district=district, level=level,
                            published_from=_date("published_from", published_from),
                            published_to=_date("published_to", published_to), doc_ids=doc_id)
    result = await run_in_threadpool(services.retriever.search_detailed, q,
                                     top_k or services.settings.retrieval.top_k, filters)
    timings = result.timings
    await run_in_threadpool(record_read, services, request, "search", "ok", q, {
        "filters": filter_record(filters), "found": len(result.hits),
        "chunk_ids": [h.chunk_id for h in result.hits]})
    return SearchResponse(query=q, hits=[SearchHitOut.from_hit(h) for h in result.hits],
                          timings_ms={"embed": round(timings.embed_ms, 2), "sparse": round(timings.sparse_ms, 2),
                                      "search": round(timings.search_ms, 2)})
