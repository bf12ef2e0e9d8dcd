"""The policy-lookup API for other government systems: find, read, facets. Search, not chat.

Every request is recorded as a light `lookup` audit event (who, what, how many documents). Errors are
problem details (app/api/problems.py); successful reads carry ETag / Last-Modified.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from app.api.caching import cached_json, last_modified
from app.api.deps import ServicesDep
from app.api.reads import filter_record, record_read
from app.api.policy_schemas import (
    ChunkContextOut, ChunkOut, FacetsOut, FacetValue, PolicyDocumentOut, PolicyMeta, PolicyPageOut,
    RelatedOut, match_out,
)
from app.api.problems import PATTERN_HINTS, ProblemError, problem_responses
from app.domain import DISTRICTS, LEVELS, VALIDITIES, SearchFilters, normalize_doc_number
from app.lookup.paging import BadCursor

router = APIRouter(prefix="/v1/policies", tags=["policies"])

# a 文号: 机关代字, year in brackets of any kind, number, 号 (spaces allowed, as people type them)
DOC_NUMBER_PATTERN = r"^\s*[\u4e00-\u9fa5]{1,16}\s*[〔\[［(（【]\s*(19|20)\d{2}\s*[〕\]］)）】]\s*\d{1,5}\s*号\s*$"

PATTERN_HINTS["doc_number"] = "not a 文号 (e.g. 京政发〔2020〕1号)"

ValidityParam = Literal["现行有效", "已修订", "已失效", "已废止", "未知", "all"]
assert set(ValidityParam.__args__) == set(VALIDITIES) | {"all"}  # one list of validities, in app/domain.py


class PolicyQuery:
    """The query and filters shared by /v1/policies and /v1/policies/facets."""

    def __init__(
        self,
        services: ServicesDep,
        q: Annotated[str | None, Query(description="Words, a question or a 文号 (at most SERVER_MAX_QUERY_CHARS "
                                                   "characters); empty lists documents.")] = None,
        doc_number: Annotated[str | None, Query(pattern=DOC_NUMBER_PATTERN, description=(
            "Exact 文号; 〔〕, [], () and spaces are all accepted: 京民社救发[2024]80号"))] = None,
        issuer: Annotated[str | None, Query(max_length=100, description="One 发文机关, e.g. 北京市民政局")] = None,
        level: Annotated[Literal["国家", "市级", "区级"] | None, Query()] = None,
        district: Annotated[Literal[DISTRICTS] | None, Query(description="A Beijing district, e.g. 朝阳区")] = None,  # type: ignore[valid-type]
        topic: Annotated[str | None, Query(max_length=100)] = None,
        validity: Annotated[ValidityParam | None, Query(description=(
            "现行有效, 已修订, 已失效, 已废止 or 未知; `all` for any. Default: documents in force or of unknown validity (labelled so), as "
            "search and answers do; an exact doc_number finds its document whatever its validity."))] = None,
        published_from: Annotated[dt.date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
        published_to: Annotated[dt.date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
        effective_on: Annotated[dt.date | None, Query(description="Documents in force on this day (YYYY-MM-DD).")] = None,
    ) -> None:
        assert level is None or level in LEVELS
        longest = services.settings.server.max_query_chars
        if q is not None and len(q) > longest:
            raise ProblemError(422, f"longer than {longest} characters", field="q")
        if published_from and published_to and published_from > published_to:
            raise ProblemError(422, "must not be after published_to", field="published_from")
        key = None
        if doc_number is not None:
            key = normalize_doc_number(doc_number)
            if key is None:
                raise ProblemError(422, "not a 文号 (e.g. 京政发〔2020〕1号)", field="doc_number")
        self.q = q.strip() if q and q.strip() else None
        # one validity rule for search, answers and lookup: what is not known to be out of force
        # stays in; someone who types an exact 文号 gets that document, whatever its validity
        any_validity = validity == "all" or (validity is None and key is not None)
        self.filters = SearchFilters(
            include_not_in_force=any_validity, validities=[validity] if validity not in (None, "all") else None,
            issuer=issuer, district=district, level=level, topic=topic, doc_number_key=key,
            published_from=published_from.isoformat() if published_from else None,
            published_to=published_to.isoformat() if published_to else None,
            effective_on=effective_on.isoformat() if effective_on else None)


def _only_known_parameters(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ProblemError(422, f"unknown parameter; accepted: {', '.join(sorted(allowed))}", field=unknown[0])


_FILTERS = {"q", "doc_number", "issuer", "level", "district", "topic", "validity", "published_from", "published_to",
            "effective_on"}


@router.get("", response_model=PolicyPageOut, responses=problem_responses(422),
            summary="Search or list policy documents")
async def find_policies(
    request: Request,
    services: ServicesDep,
    query: Annotated[PolicyQuery, Depends()],
    sort: Annotated[Literal["relevance", "published"] | None, Query(
        description="relevance (default with q) or published (newest first; default without q)")] = None,
    limit: Annotated[int, Query(ge=1, description="Page size, at most LOOKUP_MAX_PAGE.")] = 10,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page.")] = None,
) -> Response:
    _only_known_parameters(request, _FILTERS | {"sort", "limit", "cursor"})
    if limit > services.settings.lookup.max_page:
        raise ProblemError(422, f"at most {services.settings.lookup.max_page}", field="limit")
    try:
        page = await run_in_threadpool(services.lookup.find, query.q, query.filters, sort, limit, cursor)
    except BadCursor as exc:
        raise ProblemError(422, str(exc), field="cursor") from None
    out = PolicyPageOut(q=query.q, sort=sort or ("relevance" if query.q else "published"), total=page.total,
                        limit=limit, next_cursor=page.next_cursor, matches=[match_out(m) for m in page.matches])
    await run_in_threadpool(record_read, services, request, "find", "ok", query.q, {
        "filters": filter_record(query.filters), "sort": out.sort, "cursor": bool(cursor),
        "found": len(out.matches), "total": out.total, "doc_ids": [m.document.doc_id for m in out.matches]})
    return cached_json(request, out, last_modified([m.document.indexed_at for m in out.matches]))


@router.get("/facets", response_model=FacetsOut, responses=problem_responses(422),
            summary="Counts by issuer, year, validity and topic for a query")
async def policy_facets(request: Request, services: ServicesDep, query: Annotated[PolicyQuery, Depends()]) -> Response:
    _only_known_parameters(request, _FILTERS)
    total, facets = await run_in_threadpool(services.lookup.facets, query.q, query.filters)
    out = FacetsOut(q=query.q, total=total,
                    facets={name: [FacetValue(value=v, count=c) for v, c in values] for name, values in facets.items()})
    await run_in_threadpool(record_read, services, request, "facets", "ok", query.q,
                            {"filters": filter_record(query.filters), "total": total})
    return cached_json(request, out, None)


@router.get("/{doc_id}", response_model=PolicyDocumentOut, responses=problem_responses(404, 422),
            summary="One document: metadata, cleaned body, chunks, related documents")
async def get_policy(request: Request, services: ServicesDep,
                     doc_id: Annotated[str, Path(max_length=200)]) -> Response:
    _only_known_parameters(request, set())
    found = await run_in_threadpool(services.lookup.document, doc_id)
    await run_in_threadpool(record_read, services, request, "document", "ok" if found else "not_found", None,
                            {"doc_id": doc_id, "found": int(found is not None)})
    if found is None:
        raise ProblemError(404, f"no document with doc_id {doc_id!r}", field="doc_id", location="path")
    out = PolicyDocumentOut(document=PolicyMeta.of(found.document), body=found.body,
                            chunks=found.chunks, related=[RelatedOut(relation=r.relation, document=PolicyMeta.of(r.document))
                                                          for r in found.related])
    return cached_json(request, out, last_modified([out.document.indexed_at]))


@router.get("/{doc_id}/chunks/{chunk_id}", response_model=ChunkContextOut, responses=problem_responses(404, 422),
            summary="One chunk with the chunks before and after it")
async def get_chunk(request: Request, services: ServicesDep, doc_id: Annotated[str, Path(max_length=200)],
                    chunk_id: Annotated[str, Path(max_length=100)]) -> Response:
    _only_known_parameters(request, set())
    found = None
    if _is_uuid(chunk_id):
        found = await run_in_threadpool(services.lookup.chunk, doc_id, chunk_id)
    await run_in_threadpool(record_read, services, request, "chunk", "ok" if found else "not_found", None,
                            {"doc_id": doc_id, "chunk_id": chunk_id, "found": int(found is not None)})
    if found is None:
        raise ProblemError(404, f"no chunk {chunk_id!r} in document {doc_id!r}", field="chunk_id", location="path")
    out = ChunkContextOut(document=PolicyMeta.of(found.document), chunk=ChunkOut(**found.chunk),
                          previous=ChunkOut(**found.previous) if found.previous else None,
                          next=ChunkOut(**found.next) if found.next else None)
    return cached_json(request, out, last_modified([out.document.indexed_at]))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False
