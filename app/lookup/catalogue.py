"""Policy lookup for other systems: find documents (hybrid search or a filtered list), read one
with its chunks and related documents, read one chunk in context, count facets.

Documents are the index's document points (metadata, cleaned body, what the text cites and
repeals); chunks are its chunk points. Nothing here keeps a copy of the index, so what the API
returns is what the last sync wrote.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from app.clients.sparse import JiebaBm25Encoder
from app.clients.vector_store import CHUNKS, DOCUMENTS, Condition, FilterSpec, VectorStore, build_filter
from app.domain import SearchFilters, chunk_point_id, normalize_doc_number
from app.lookup import paging
from app.lookup.highlight import Snippet, snippet
from app.retrieval import HybridRetriever

Sort = Literal["relevance", "published"]

META_FIELDS = ["doc_id", "title", "doc_number", "issuer", "level", "district", "written", "published", "effective",
               "expires", "validity", "topics", "source_url", "kind", "replaces", "n_chunks", "indexed_at",
               "doc_number_key", "published_int"]
_REFERENCE_FIELDS = ["cites_numbers", "cites_titles", "repeals_numbers", "repeals_titles"]
_RELATION_FIELDS = ("amends", "amended_by")  # doc ids, both directions stored by the sync's link pass
FACETS = ("issuer", "year", "validity", "topic")


@dataclass
class ChunkMatch:
    chunk_id: str
    heading_path: list[str]
    start: int
    end: int
    score: float
    text: str
    snippet: Snippet | None = None  # cut once the page is known (only the page's matches need one)


@dataclass
class PolicyMatch:
    document: dict[str, Any]
    score: float | None
    chunks: list[ChunkMatch] = field(default_factory=list)


@dataclass
class PolicyPage:
    matches: list[PolicyMatch]
    total: int
    next_cursor: str | None


@dataclass
class Related:
    relation: str  # same_doc_number | cites | cited_by | repeals | repealed_by | amends | amended_by
    document: dict[str, Any]


@dataclass
class PolicyDocument:
    document: dict[str, Any]
    body: str
    chunks: list[dict[str, Any]]
    related: list[Related]


@dataclass
class ChunkInContext:
    document: dict[str, Any]
    chunk: dict[str, Any]
    previous: dict[str, Any] | None
    next: dict[str, Any] | None


def _meta(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload.get(k) for k in META_FIELDS}


def _chunk(payload: dict[str, Any], point_id: str) -> dict[str, Any]:
    return {"chunk_id": point_id, "position": payload.get("position"), "heading_path": payload.get("heading_path") or [],
            "start": payload.get("start"), "end": payload.get("end"), "text": payload.get("text", "")}


class PolicyLookup:
    def __init__(self, store: VectorStore, retriever: HybridRetriever, sparse: JiebaBm25Encoder,
                 max_results: int = 100, chunks_per_document: int = 3, snippet_chars: int = 120) -> None:
        """max_results: how many best chunks a relevance search groups into documents (so it pages
        at most that many documents, usually far fewer)."""
        self.store, self.retriever, self.sparse = store, retriever, sparse
        self.max_results, self.chunks_per_document, self.snippet_chars = max_results, chunks_per_document, snippet_chars

    # ---- find ----
    def find(self, q: str | None, filters: SearchFilters, sort: Sort | None = None, limit: int = 10,
             cursor: str | None = None) -> PolicyPage:
        """Documents matching q (hybrid search; documents whose 文号 is in q come first) or, without
        q, every document the filters let through. Keyset pagination over a stable order:
        (score desc, doc_id) or (published desc, doc_id)."""
        sort = sort or ("relevance" if q else "published")
        matches = self._matching(q, filters)
        key = self._sort_key(sort)
        matches.sort(key=key)
        params = {"q": q, "filters": {k: v for k, v in vars(filters).items() if k != "today"}, "sort": sort}
        if cursor:
            after = paging.decode(cursor, params)
            after_cursor = [m for m in matches if tuple(key(m)) > after]
        else:
            after_cursor = matches
        page = after_cursor[:limit]
        more = len(after_cursor) > limit
        terms = self._terms(q)
        for match in page:
            for chunk in match.chunks:
                chunk.snippet = snippet(chunk.text, chunk.start, terms, self.snippet_chars)
        next_cursor = paging.encode(list(key(page[-1])), params) if more and page else None
        return PolicyPage(page, len(matches), next_cursor)

    @staticmethod
    def _sort_key(sort: Sort):
        if sort == "published":
            # newest first, undated last; doc_id breaks ties so the order is total and stable
            return lambda h: (-(h.document.get("published_int") or 0), h.document["doc_id"])
        return lambda h: (-round(h.score or 0.0, 9), h.document["doc_id"])

    def _terms(self, q: str | None) -> list[str]:
        if not q:
            return []
        terms = [w for w in self.sparse.words(q) if len(w) > 1 or "\u4e00" <= w <= "\u9fff"]
        number = normalize_doc_number(q)
        return terms + ([number] if number else [])

    def _matching(self, q: str | None, filters: SearchFilters) -> list[PolicyMatch]:
        """Every document the query matches: ranked by the search with q, else all the filters let through."""
        return self._ranked(q, filters) if q else self._listed(filters)

    def _listed(self, filters: SearchFilters) -> list[PolicyMatch]:
        spec = self._documents(filters)
        return [PolicyMatch(_meta(p), None) for _, p in self.store.scroll_payloads(spec, fields=META_FIELDS)]

    def _ranked(self, q: str, filters: SearchFilters) -> list[PolicyMatch]:
        found = self.retriever.search_documents(q, top_k=self.max_results, filters=filters,
                                                chunks_per_doc=self.chunks_per_document, candidates=self.max_results)
        meta = self._metadata([d.doc_id for d in found])
        matches = [PolicyMatch(meta[d.doc_id], d.score, [ChunkMatch(c.chunk_id, c.heading_path, c.start, c.end,
                                                                   c.score, c.text) for c in d.chunks])
                   for d in found if d.doc_id in meta]
        number = normalize_doc_number(q)
        if number:  # asked by 文号: the documents that carry it outrank everything else
            exact = {p["doc_id"]: p for _, p in self.store.scroll_payloads(
                self._documents(replace(filters, doc_number_key=number)), fields=META_FIELDS)}
            top = max([m.score or 0.0 for m in matches] + [0.0]) + 1.0
            matches = [m for m in matches if m.document["doc_id"] not in exact]
            matches += [PolicyMatch(_meta(p), top) for p in exact.values()]
        return matches

    def _metadata(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not doc_ids:
            return {}
        spec = FilterSpec(must=DOCUMENTS.must + [Condition("any", "doc_id", doc_ids)])
        return {p["doc_id"]: _meta(p) for _, p in self.store.scroll_payloads(spec, fields=META_FIELDS)}

    @staticmethod
    def _documents(filters: SearchFilters) -> FilterSpec:
        spec = build_filter(filters)
        spec.must.extend(DOCUMENTS.must)
        return spec

    # ---- facets ----
    def facets(self, q: str | None, filters: SearchFilters) -> tuple[int, dict[str, list[tuple[str, int]]]]:
        """Counts over every document the query matches (not one page): by issuer, year, validity, topic."""
        matches = self._matching(q, filters)
        counts: dict[str, Counter] = {name: Counter() for name in FACETS}
        for match in matches:
            doc = match.document
            for issuer in dict.fromkeys(s for s in (doc.get("issuer") or "").replace("，", "、").split("、") if s):
                counts["issuer"][issuer] += 1
            counts["year"][(doc.get("published") or "")[:4] or "未知"] += 1
            counts["validity"][doc.get("validity") or "未知"] += 1
            for topic in dict.fromkeys(doc.get("topics") or []):
                counts["topic"][topic] += 1
        return len(matches), {name: sorted(c.items(), key=lambda kv: (-kv[1], kv[0])) for name, c in counts.items()}

    # ---- read ----
    def document(self, doc_id: str) -> PolicyDocument | None:
        spec = FilterSpec(must=DOCUMENTS.must + [Condition("match", "doc_id", doc_id)])
        payload = next((p for _, p in self.store.scroll_payloads(spec)), None)
        if payload is None:
            return None
        chunk_spec = FilterSpec(must=CHUNKS.must + [Condition("match", "doc_id", doc_id)])
        chunks = sorted((_chunk(p, pid) for pid, p in self.store.scroll_payloads(
            chunk_spec, fields=["position", "heading_path", "start", "end"])), key=lambda c: c["position"])
        for c in chunks:
            c.pop("text")
        return PolicyDocument(_meta(payload), payload.get("body", ""), chunks, self._related(payload))

    def _related(self, doc: dict[str, Any]) -> list[Related]:
        doc_id, key, title = doc["doc_id"], doc.get("doc_number_key"), doc.get("title")
        wanted: list[tuple[str, list[Condition]]] = []
        if key:
            wanted.append(("same_doc_number", [Condition("match", "doc_number_key", key)]))
        for relation, numbers, titles, ids in (("cites", "cites_numbers", "cites_titles", None),
                                               ("repeals", "repeals_numbers", "repeals_titles", "replaces")):
            for field_name, values in (("doc_number_key", doc.get(numbers)), ("title", doc.get(titles)),
                                       ("doc_id", doc.get(ids) if ids else None)):
                if values:
                    wanted.append((relation, [Condition("any", field_name, list(values))]))
        for relation, numbers, titles in (("cited_by", "cites_numbers", "cites_titles"),
                                          ("repealed_by", "repeals_numbers", "repeals_titles")):
            if key:
                wanted.append((relation, [Condition("match", numbers, key)]))
            if title:
                wanted.append((relation, [Condition("match", titles, title)]))
        wanted.append(("repealed_by", [Condition("match", "replaces", doc_id)]))
        for relation in _RELATION_FIELDS:
            if doc.get(relation):
                wanted.append((relation, [Condition("any", "doc_id", list(doc[relation]))]))
        out: dict[tuple[str, str], Related] = {}
        for relation, conditions in wanted:
            spec = FilterSpec(must=DOCUMENTS.must + conditions)
            for _, p in self.store.scroll_payloads(spec, fields=META_FIELDS):
                if p["doc_id"] != doc_id:
                    out.setdefault((relation, p["doc_id"]), Related(relation, _meta(p)))
        return sorted(out.values(), key=lambda r: (r.relation, r.document["doc_id"]))

    def chunk(self, doc_id: str, chunk_id: str) -> ChunkInContext | None:
        try:
            found = self.store.retrieve([chunk_id])
        except ValueError:  # not a point id at all
            return None
        if not found or found[0].payload.get("doc_id") != doc_id or found[0].payload.get("granularity") != "chunk":
            return None
        payload = found[0].payload
        position = int(payload.get("position", 0))
        neighbours = {}
        for name, pos in (("previous", position - 1), ("next", position + 1)):
            if pos < 0:
                neighbours[name] = None
                continue
            near = self.store.retrieve([chunk_point_id(doc_id, pos)])
            neighbours[name] = _chunk(near[0].payload, near[0].id) if near else None
        return ChunkInContext(_meta(payload), _chunk(payload, found[0].id), neighbours["previous"], neighbours["next"])
