"""Qdrant server (or cluster) through qdrant-client: the scale-out adapter.

`QDRANT_URL` selects it. The same class runs against qdrant-client's local mode (`:memory:` or a
path), which implements the server API; the test suite uses that, since no server binary can be
installed from the package registries here.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from app.clients.vector_store import (
    DENSE,
    DOC_SPARSE,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    SPARSE,
    STATE_FIELDS,
    ChunkPoint,
    Condition,
    DocState,
    FilterSpec,
    ScoredChunk,
    StoreUnavailable,
    collect_doc_states,
)


class _Reachable:
    """The qdrant-client, with "the server cannot be reached" raised as StoreUnavailable, and the
    collection set up on the first call that reaches the server (a server down when the app started
    is used as soon as it is back, without a restart)."""

    def __init__(self, client: QdrantClient, set_up) -> None:
        self._client, self._set_up, self._ready = client, set_up, False

    def close_now(self) -> None:
        self._client.close()

    def __getattr__(self, name: str):
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            try:
                if not self._ready:
                    self._set_up(self._client)
                    self._ready = True
                return method(*args, **kwargs)
            except (ResponseHandlingException, httpx.TransportError, ConnectionError) as exc:
                raise StoreUnavailable(f"Qdrant is not reachable: {exc}") from exc
            except UnexpectedResponse as exc:
                if exc.status_code in (502, 503, 504):
                    raise StoreUnavailable(f"Qdrant answered {exc.status_code}") from exc
                raise

        return call


class ServerVectorStore:
    def __init__(self, client: QdrantClient, collection: str, dim: int, shards: int = 1,
                 replication_factor: int = 1, write_consistency_factor: int = 1, connect_now: bool = True) -> None:
        self.collection, self.dim = collection, dim
        self._layout = (shards, replication_factor, write_consistency_factor)
        self.client = _Reachable(client, self._set_up)
        if connect_now:
            self.client.collection_exists(collection)

    def _set_up(self, client: QdrantClient) -> None:
        collection, dim = self.collection, self.dim
        shards, replication_factor, write_consistency_factor = self._layout
        if not client.collection_exists(collection):
            client.create_collection(
                collection, shard_number=shards, replication_factor=replication_factor,
                write_consistency_factor=write_consistency_factor,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF),
                                       DOC_SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
        else:
            existing = client.get_collection(collection).config.params.vectors
            size = existing[DENSE].size if isinstance(existing, dict) else getattr(existing, "size", dim)
            if size != dim:
                raise ValueError(f"collection '{collection}' holds {size}-d vectors; the embedder gives {dim}-d. "
                                 "Use another QDRANT_COLLECTION or re-create it.")
        for name in KEYWORD_FIELDS:
            client.create_payload_index(collection, name, models.PayloadSchemaType.KEYWORD)
        for name in INTEGER_FIELDS:
            client.create_payload_index(collection, name, models.PayloadSchemaType.INTEGER)

    def upsert(self, points: list[ChunkPoint]) -> None:
        if not points:
            return
        structs = []
        for p in points:
            vector: dict[str, Any] = {p.sparse_name: models.SparseVector(indices=p.sparse_indices, values=p.sparse_values)}
            if p.dense is not None:
                vector[DENSE] = list(map(float, p.dense))
            structs.append(models.PointStruct(id=p.id, payload=p.payload, vector=vector))
        self.client.upsert(self.collection, wait=True, points=structs)

    def delete_doc_chunks(self, doc_id: str, keep_ids: list[str]) -> None:
        must_not = [models.HasIdCondition(has_id=list(keep_ids))] if keep_ids else None
        self.client.delete(self.collection, wait=True, points_selector=models.FilterSelector(filter=models.Filter(
            must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))], must_not=must_not)))

    def set_document_fields(self, doc_id: str, fields: dict[str, Any]) -> None:
        # chunks first, the document point last (the next sync reads it to see whether this was done)
        for granularity in ("chunk", "document"):
            self.client.set_payload(self.collection, payload=fields, wait=True, points=models.FilterSelector(
                filter=models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)),
                                           models.FieldCondition(key="granularity",
                                                                 match=models.MatchValue(value=granularity))])))

    def doc_states(self) -> dict[str, DocState]:
        states: dict[str, DocState] = {}
        collect_doc_states(list(self.scroll_payloads(fields=STATE_FIELDS)), states)
        return states

    def scroll_payloads(self, spec: FilterSpec | None = None, fields: list[str] | None = None):
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=_filter(spec), limit=1024,
                                                 offset=offset, with_payload=fields or True)
            for r in records:
                yield str(r.id), r.payload or {}
            if offset is None:
                return

    @staticmethod
    def _signals(dense, sparse, doc_sparse=None) -> list[tuple[str, Any, str]]:
        """(name, vector, vector name in the collection) for each vector given."""
        signals: list[tuple[str, Any, str]] = []
        if dense is not None:
            signals.append(("dense", list(map(float, dense)), DENSE))
        for name, vector, using in (("bm25", sparse, SPARSE), ("document", doc_sparse, DOC_SPARSE)):
            if vector is not None and vector[0]:
                signals.append((name, models.SparseVector(indices=list(vector[0]), values=list(vector[1])), using))
        return signals

    def query_each(self, dense, sparse, spec: FilterSpec, limit: int, doc_sparse=None) -> dict[str, list[ScoredChunk]]:
        flt = _filter(spec)
        named = self._signals(dense, sparse, doc_sparse)
        if not named:
            return {}
        requests = [models.QueryRequest(query=v, using=using, filter=flt, limit=limit,
                                        with_payload=["doc_id"] if label == "document" else False)
                    for label, v, using in named]
        responses = self.client.query_batch_points(self.collection, requests=requests)
        return {label: [ScoredChunk(str(p.id), float(p.score), p.payload or {}) for p in r.points]
                for (label, _, _), r in zip(named, responses)}

    def query(self, dense, sparse, spec: FilterSpec, limit: int, prefetch_limit: int, rrf_k: int,
              weights: tuple[float, float]) -> list[ScoredChunk]:
        flt = _filter(spec)
        signals = [(vector, using) for _, vector, using in self._signals(dense, sparse)]
        if not signals:
            return []
        if len(signals) == 1:
            response = self.client.query_points(self.collection, query=signals[0][0], using=signals[0][1],
                                                query_filter=flt, limit=limit, with_payload=True)
        else:
            response = self.client.query_points(
                self.collection,
                prefetch=[models.Prefetch(query=v, using=name, limit=prefetch_limit, filter=flt) for v, name in signals],
                query=models.RrfQuery(rrf=models.Rrf(k=rrf_k, weights=list(weights))),
                query_filter=flt, limit=limit, with_payload=True)
        return [ScoredChunk(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def retrieve(self, ids: list[str]) -> list[ScoredChunk]:
        records = self.client.retrieve(self.collection, ids=[str(uuid.UUID(i)) for i in ids], with_payload=True)
        return [ScoredChunk(str(r.id), 0.0, r.payload or {}) for r in records]

    def count(self, spec: FilterSpec | None = None) -> int:
        return self.client.count(self.collection, count_filter=_filter(spec), exact=True).count

    def optimize(self) -> None:
        """The server builds its indexes in the background."""

    def flush(self) -> None:
        """Writes are acknowledged with wait=True; nothing to flush."""

    def close(self) -> None:
        self.client.close_now()


def _condition(c: Condition) -> Any:
    if c.kind == "match":
        return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))
    if c.kind == "any":
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.value)))
    if c.kind == "range":
        return models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lte=c.lte, lt=c.lt))
    raise ValueError(f"unknown condition kind {c.kind}")


def _filter(spec: FilterSpec | None) -> models.Filter | None:
    if not spec:
        return None
    return models.Filter(must=[_condition(c) for c in spec.must] or None,
                         must_not=[_condition(c) for c in spec.must_not] or None)
