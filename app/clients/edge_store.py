"""Qdrant Edge: Qdrant's engine in-process, on disk under the data directory.

One process per shard folder: Edge refuses a second process on the same folder, so the embedded
default serves from one worker. Several replicas need the Qdrant server (`server_store`).
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import qdrant_edge as q

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
    collect_doc_states,
)


class EdgeVectorStore:
    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        config = q.EdgeConfig(
            vectors={DENSE: q.EdgeVectorParams(size=dim, distance=q.Distance.Cosine)},
            sparse_vectors={SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf),
                            DOC_SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
        )
        if path.exists() and any(path.iterdir()):
            try:
                self._shard = q.EdgeShard.load(str(path), config)
            except Exception as exc:  # Edge raises a bare Exception; only this message is worth translating
                if "incompatible" not in str(exc).lower():
                    raise
                raise RuntimeError(
                    f"the index in {path} was built with another layout ({exc}). Delete that folder "
                    "(`make clean` for the default one) and run `jingce ingest` again; embeddings are cached, "
                    "so this takes seconds.") from exc
        else:
            path.mkdir(parents=True, exist_ok=True)
            self._shard = q.EdgeShard.create(str(path), config)
        self._lock = threading.RLock()
        schema = self._shard.info().payload_schema
        for name in KEYWORD_FIELDS:
            if name not in schema:
                self._shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Keyword))
        for name in INTEGER_FIELDS:
            if name not in schema:
                self._shard.update(q.UpdateOperation.create_field_index(name, q.PayloadSchemaType.Integer))

    # ---- writes ----
    def upsert(self, points: list[ChunkPoint]) -> None:
        if not points:
            return
        edge_points = []
        for p in points:
            vector = {p.sparse_name: q.SparseVector(p.sparse_indices, p.sparse_values)}
            if p.dense is not None:
                vector[DENSE] = list(map(float, p.dense))
            edge_points.append(q.Point(id=p.id, vector=vector, payload=p.payload))
        with self._lock:
            self._shard.update(q.UpdateOperation.upsert_points(edge_points))

    def delete_doc_chunks(self, doc_id: str, keep_ids: list[str]) -> None:
        must_not = [q.HasIdCondition({uuid.UUID(i) for i in keep_ids})] if keep_ids else None
        flt = q.Filter(must=[q.FieldCondition(key="doc_id", match=q.MatchValue(doc_id))], must_not=must_not)
        with self._lock:
            self._shard.update(q.UpdateOperation.delete_points_by_filter(flt))

    def set_document_fields(self, doc_id: str, fields: dict[str, Any]) -> None:
        # the chunks first, the document point last: the document point is what the next sync reads to
        # decide whether its relations are right, so a kill in between leaves it stale and it is redone
        for granularity in ("chunk", "document"):
            flt = q.Filter(must=[q.FieldCondition(key="doc_id", match=q.MatchValue(doc_id)),
                                 q.FieldCondition(key="granularity", match=q.MatchValue(granularity))])
            with self._lock:
                self._shard.update(q.UpdateOperation.set_payload_by_filter(flt, fields))

    # ---- reads ----
    def doc_states(self) -> dict[str, DocState]:
        states: dict[str, DocState] = {}
        offset = None
        while True:
            with self._lock:
                records, offset = self._shard.scroll(q.ScrollRequest(limit=2048, offset=offset,
                                                                     with_payload=STATE_FIELDS))
            collect_doc_states([(str(r.id), r.payload or {}) for r in records], states)
            if offset is None:
                return states

    @staticmethod
    def _signals(dense, sparse, doc_sparse=None) -> list[tuple[str, q.Query]]:
        """(name, query) for each vector given; a question of stop words only has no sparse vector."""
        signals = []
        if dense is not None:
            signals.append(("dense", q.Query.Nearest(list(map(float, dense)), using=DENSE)))
        for name, vector, using in (("bm25", sparse, SPARSE), ("document", doc_sparse, DOC_SPARSE)):
            if vector is not None and vector[0]:
                signals.append((name, q.Query.Nearest(q.SparseVector(list(vector[0]), list(vector[1])), using=using)))
        return signals

    def query_each(self, dense, sparse, spec: FilterSpec, limit: int, doc_sparse=None) -> dict[str, list[ScoredChunk]]:
        flt = _edge_filter(spec)
        named = self._signals(dense, sparse, doc_sparse)
        if not named:
            return {}
        # chunk lists come without payloads (reading them is most of a query's time); the
        # document list carries doc_id, the key its scores are added to chunks by
        batch = q.QueryBatchRequest([q.QueryRequest(limit=limit, query=query, filter=flt,
                                                    with_payload=["doc_id"] if name == "document" else False)
                                     for name, query in named])
        with self._lock:
            results = self._shard.query_batch(batch)
        return {name: [ScoredChunk(str(p.id), float(p.score), p.payload or {}) for p in points]
                for (name, _), points in zip(named, results)}

    def query(self, dense, sparse, spec: FilterSpec, limit: int, prefetch_limit: int, rrf_k: int,
              weights: tuple[float, float]) -> list[ScoredChunk]:
        flt = _edge_filter(spec)
        signals = [query for _, query in self._signals(dense, sparse)]
        if not signals:
            return []
        if len(signals) == 1:
            request = q.QueryRequest(limit=limit, query=signals[0], filter=flt, with_payload=True)
        else:
            request = q.QueryRequest(
                limit=limit,
                prefetches=[q.Prefetch(limit=prefetch_limit, query=s, filter=flt) for s in signals],
                query=q.Fusion.Rrf(k=rrf_k, weights=list(weights)),
                filter=flt,
                with_payload=True,
            )
        with self._lock:
            points = self._shard.query(request)
        return [ScoredChunk(str(p.id), float(p.score), p.payload or {}) for p in points]

    def retrieve(self, ids: list[str]) -> list[ScoredChunk]:
        with self._lock:
            records = self._shard.retrieve([uuid.UUID(i) for i in ids], with_payload=True, with_vector=False)
        return [ScoredChunk(str(r.id), 0.0, r.payload or {}) for r in records]

    def scroll_payloads(self, spec: FilterSpec | None = None, fields: list[str] | None = None):
        offset = None
        while True:
            with self._lock:
                records, offset = self._shard.scroll(q.ScrollRequest(
                    limit=1024, offset=offset, filter=_edge_filter(spec) if spec else None,
                    with_payload=fields if fields else True))
            for r in records:
                yield str(r.id), r.payload or {}
            if offset is None:
                return

    def count(self, spec: FilterSpec | None = None) -> int:
        with self._lock:
            return self._shard.count(q.CountRequest(filter=_edge_filter(spec) if spec else None, exact=True))

    def optimize(self) -> None:
        with self._lock:
            self._shard.optimize()

    def flush(self) -> None:
        with self._lock:
            self._shard.flush()

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None


def _condition(c: Condition) -> Any:
    if c.kind == "match":
        return q.FieldCondition(key=c.key, match=q.MatchValue(c.value))
    if c.kind == "any":
        return q.FieldCondition(key=c.key, match=q.MatchAny(list(c.value)))
    if c.kind == "range":
        return q.FieldCondition(key=c.key, range=q.RangeFloat(gte=c.gte, lte=c.lte, lt=c.lt))
    raise ValueError(f"unknown condition kind {c.kind}")


def _edge_filter(spec: FilterSpec | None) -> q.Filter | None:
    if not spec:
        return None
    return q.Filter(must=[_condition(c) for c in spec.must] or None,
                    must_not=[_condition(c) for c in spec.must_not] or None)
