"""A typed Python client for the policy-lookup API, for other government systems.

    from jingce_client import PolicyClient
    with PolicyClient("http://jingce.internal:8000", api_key=os.environ["JINGCE_API_KEY"]) as api:
        page = api.find(q="养老服务补贴", issuer="北京市民政局")
        for match in page.matches:
            print(match.document.doc_number, match.document.title, match.chunks[0].snippet)
        doc = api.document(page.matches[0].document.doc_id)
        everything = list(api.find_all(validity="all"))

Responses are the same pydantic models the API declares (jingce_client.models); the package imports
httpx and pydantic only, nothing of the server. Errors raise `PolicyAPIError` with the
problem details (status, detail, the field at fault). Documents are cached by ETag: reading one
again costs a 304, not the body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx

from jingce_client.models import ChunkContextOut, FacetsOut, PolicyDocumentOut, PolicyMatchOut, PolicyPageOut, Problem


class PolicyAPIError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def fields(self) -> list[str]:
        return [e.field for e in self.problem.errors]


def _params(**values: Any) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = value.isoformat() if isinstance(value, dt.date) else str(value)
    return out


class PolicyClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"  # who asks, for access and the audit log
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s,
                                  transport=transport)
        self._cache: dict[str, tuple[str, Any]] = {}  # url → (etag, parsed model)

    def __enter__(self) -> "PolicyClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- endpoints ----
    def find(self, q: str | None = None, *, doc_number: str | None = None, issuer: str | None = None,
             level: str | None = None, district: str | None = None, topic: str | None = None,
             validity: str | None = None, published_from: dt.date | str | None = None,
             published_to: dt.date | str | None = None, effective_on: dt.date | str | None = None,
             sort: str | None = None, limit: int | None = None, cursor: str | None = None) -> PolicyPageOut:
        """One page of documents; pass `page.next_cursor` back as `cursor` for the next."""
        params = _params(q=q, doc_number=doc_number, issuer=issuer, level=level, district=district, topic=topic,
                         validity=validity, published_from=published_from, published_to=published_to,
                         effective_on=effective_on, sort=sort, limit=limit, cursor=cursor)
        return self._get("/v1/policies", params, PolicyPageOut)

    def find_all(self, q: str | None = None, **filters: Any) -> Iterator[PolicyMatchOut]:
        """Every match, page after page."""
        cursor = None
        while True:
            page = self.find(q, cursor=cursor, **filters)
            yield from page.matches
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def facets(self, q: str | None = None, **filters: Any) -> FacetsOut:
        return self._get("/v1/policies/facets", _params(q=q, **filters), FacetsOut)

    def document(self, doc_id: str) -> PolicyDocumentOut:
        return self._get(f"/v1/policies/{_segment(doc_id)}", {}, PolicyDocumentOut, cache=True)

    def chunk(self, doc_id: str, chunk_id: str) -> ChunkContextOut:
        return self._get(f"/v1/policies/{_segment(doc_id)}/chunks/{_segment(chunk_id)}", {}, ChunkContextOut,
                         cache=True)

    # ---- transport ----
    def _get(self, path: str, params: dict[str, str], model: type, cache: bool = False):
        cached = self._cache.get(path) if cache else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        response = self._http.get(path, params=params, headers=headers)
        if response.status_code == 304 and cached:
            return cached[1]
        if response.status_code >= 400:
            raise PolicyAPIError(_problem(response))
        parsed = model.model_validate_json(response.content)
        if cache and "etag" in response.headers:
            self._cache[path] = (response.headers["etag"], parsed)
        return parsed


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _problem(response: httpx.Response) -> Problem:
    try:
        return Problem.model_validate_json(response.content)
    except ValueError:  # not one of ours (a proxy in between): keep what there is
        return Problem(title=response.reason_phrase or "error", status=response.status_code,
                       detail=response.text[:500] or None)
