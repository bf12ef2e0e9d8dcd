"""The vector store interface and what both adapters share: payload layout and filter logic.

Two adapters implement `VectorStore`: `EdgeVectorStore` (Qdrant Edge, in-process, the embedded
default) and `ServerVectorStore` (qdrant-client against a Qdrant server). Filters are described
once here as neutral conditions and translated by each adapter into its own model classes, so the
two cannot drift apart in what a filter means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any, Protocol

from app.domain import NOT_IN_FORCE, SearchFilters

DENSE = "dense"
SPARSE = "bm25"
DOC_SPARSE = "doc_bm25"  # one point per document: BM25 over its whole text, to rank documents as wholes

# Payload fields with an index; keyword strings everywhere (a bool filter returned nothing in Edge).
KEYWORD_FIELDS = ("doc_id", "doc_hash", "validity", "issuer_names", "level", "district", "kind",
                  "source_path", "doc_number", "topics", "replaces", "granularity", "doc_number_key", "title",
                  "cites_numbers", "cites_titles", "repeals_numbers", "repeals_titles")
INTEGER_FIELDS = ("published_int", "expires_int", "effective_int")


class StoreUnavailable(RuntimeError):
    """The vector store cannot be reached now (a Qdrant server down or unreachable): the API answers
    503 and the request can be retried; nothing was half-done on our side."""

    retryable = True


@dataclass
class ChunkPoint:
    """A chunk (dense + bm25 vectors) or a document point (dense None, doc_bm25 vector)."""

    id: str
    dense: list[float] | None
    sparse_indices: list[int]
    sparse_values: list[float]
    payload: dict[str, Any]

    @property
    def sparse_name(self) -> str:
        return SPARSE if self.dense is not None else DOC_SPARSE


@dataclass
class ScoredChunk:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass
class DocState:
    """What the index holds of one document: enough to tell complete from half-written."""

    doc_hash: str
    n_points: int  # its chunks and its document point
    stored: int = 0
    source_path: str | None = None
    stored_ids: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return self.stored == self.n_points


@dataclass
class Condition:
    """A neutral filter condition: kind is match | any | range."""

    kind: str
    key: str
    value: Any = None
    gte: float | None = None
    lte: float | None = None
    lt: float | None = None


@dataclass
class FilterSpec:
    must: list[Condition] = field(default_factory=list)
    must_not: list[Condition] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


CHUNKS = FilterSpec(must=[Condition("match", "granularity", "chunk")])
DOCUMENTS = FilterSpec(must=[Condition("match", "granularity", "document")])


def date_int(iso: str | None) -> int | None:
    return int(iso.replace("-", "")) if iso else None


def build_filter(filters: SearchFilters | None) -> FilterSpec:
    """No filters given still means the default: documents known to be out of force are left out."""
    spec = FilterSpec()
    filters = filters or SearchFilters()
    if filters.validities:
        spec.must.append(Condition("any", "validity", list(filters.validities)))
    elif not filters.include_not_in_force:
        # Known to be out of force is left out; unknown validity stays in and is labelled as such.
        spec.must_not.append(Condition("any", "validity", list(NOT_IN_FORCE)))
        spec.must_not.append(Condition("range", "expires_int", lt=date_int(filters.today)))
    if filters.issuer:
        spec.must.append(Condition("match", "issuer_names", filters.issuer))
    if filters.district:
        spec.must.append(Condition("match", "district", filters.district))
    if filters.level:
        spec.must.append(Condition("match", "level", filters.level))
    if filters.kind:
        spec.must.append(Condition("match", "kind", filters.kind))
    elif filters.exclude_kinds:
        spec.must_not.append(Condition("any", "kind", list(filters.exclude_kinds)))
    if filters.doc_ids:
        spec.must.append(Condition("any", "doc_id", list(filters.doc_ids)))
    if filters.doc_number_key:
        spec.must.append(Condition("match", "doc_number_key", filters.doc_number_key))
    if filters.topic:
        spec.must.append(Condition("match", "topics", filters.topic))
    if filters.effective_on:
        # in force that day: started on or before it (unknown start counts as started), not yet expired
        day = date_int(filters.effective_on)
        spec.must_not.append(Condition("range", "effective_int", gte=day + 1))
        spec.must_not.append(Condition("range", "expires_int", lt=day))
    if filters.published_from or filters.published_to:
        spec.must.append(Condition("range", "published_int", gte=date_int(filters.published_from),
                                   lte=date_int(filters.published_to)))
    return spec


def today_iso() -> str:
    return dt.date.today().isoformat()


class VectorStore(Protocol):
    """What ingestion and retrieval need from a vector store."""

    def upsert(self, points: list[ChunkPoint]) -> None: ...

    def delete_doc_chunks(self, doc_id: str, keep_ids: list[str]) -> None:
        """Delete the document's chunks whose ids are not in keep_ids (all of them when empty)."""

    def set_document_fields(self, doc_id: str, fields: dict[str, Any]) -> None:
        """Set payload fields on every point of a document (relations computed across documents)."""

    def doc_states(self) -> dict[str, DocState]: ...

    def query(self, dense: list[float] | None, sparse: tuple[list[int], list[float]] | None,
              spec: FilterSpec, limit: int, prefetch_limit: int, rrf_k: int,
              weights: tuple[float, float]) -> list[ScoredChunk]:
        """Hybrid when both vectors are given (RRF of a dense and a sparse prefetch), else one signal."""

    def query_each(self, dense: list[float] | None, sparse: tuple[list[int], list[float]] | None,
                   spec: FilterSpec, limit: int,
                   doc_sparse: tuple[list[int], list[float]] | None = None) -> dict[str, list[ScoredChunk]]:
        """One ranked list per given signal ("dense", "bm25", "document"), in one round trip, for
        fusion outside the store. Chunk lists carry no payload (reading payloads is most of the
        query's time; `retrieve` the fused top few); the document list carries doc_id."""

    def retrieve(self, ids: list[str]) -> list[ScoredChunk]: ...

    def scroll_payloads(self, spec: FilterSpec | None = None,
                        fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def count(self, spec: FilterSpec | None = None) -> int: ...

    def optimize(self) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


_STATE_FIELDS = ["doc_id", "doc_hash", "n_points", "source_path"]


def collect_doc_states(records: list[tuple[str, dict[str, Any]]], states: dict[str, DocState]) -> None:
    """Fold scrolled (id, payload) pairs into per-document states. A document whose chunks carry
    two different hashes (an update interrupted half way) is reported incomplete."""
    for point_id, payload in records:
        doc_id = payload.get("doc_id")
        if doc_id is None:
            continue
        state = states.get(doc_id)
        if state is None:
            state = states[doc_id] = DocState(payload.get("doc_hash", ""), int(payload.get("n_points", -1)),
                                              source_path=payload.get("source_path"))
        elif state.doc_hash != payload.get("doc_hash"):
            state.n_points = -1  # mixed versions: never complete, the next sync rewrites it
        state.stored += 1
        state.stored_ids.add(str(point_id))


STATE_FIELDS = _STATE_FIELDS
