"""Hybrid retrieval: a dense and a BM25 prefetch fused by weighted RRF inside Qdrant, filtered by
validity and metadata; results carry the document metadata, heading path, offsets and scores.

A LangChain application reaches the same search over HTTP: jingce_client.langchain.PolicySearchRetriever.
"""

from __future__ import annotations

import time
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Literal

from app.clients.embeddings import ArrayEmbeddings
from app.clients.sparse import JiebaBm25Encoder
from app.clients.vector_store import DOCUMENTS, Condition, FilterSpec, ScoredChunk, VectorStore, build_filter
from app.domain import SearchFilters, SearchHit, chunk_point_id
from app.fusion import add_document_scores, dbsf
from app.vocabulary import CorpusVocabulary

Mode = Literal["hybrid", "hybrid_rrf", "dense", "bm25"]

_DOC_FIELDS = ("title", "doc_number", "issuer", "level", "district", "written", "published", "effective",
               "expires", "validity", "topics", "source_url", "kind", "replaces", "amends", "amended_by", "basis")


@dataclass
class DocumentMatch:
    doc_id: str
    score: float
    chunks: list[SearchHit] = field(default_factory=list)


@dataclass
class RetrievalTimings:
    embed_ms: float = 0.0
    sparse_ms: float = 0.0
    search_ms: float = 0.0


@dataclass
class SearchResult:
    hits: list[SearchHit]
    timings: RetrievalTimings
    best_dense: float | None = None  # cosine of the closest chunk, when the search fetched a dense list
    # the best raw score of each signal's list ("dense", "bm25", "document"), to put a hit's on a scale
    best: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    def __init__(self, store: VectorStore, embedder: ArrayEmbeddings, sparse: JiebaBm25Encoder,
                 fusion: str = "dbsf", rrf_k: int = 10, weights: tuple[float, float] = (0.4, 0.6),
                 prefetch_limit: int = 100, document_weight: float = 0.3, expansion_weight: float = 0.5,
                 vocabulary: CorpusVocabulary | None = None, max_embedded_chars: int = 160) -> None:
        """weights: (dense, sparse); document_weight: of the whole-document BM25 score (dbsf only);
        expansion_weight: of a BM25 query token that only the question's expansion brings."""
        self.store, self.embedder, self.sparse = store, embedder, sparse
        self.document_weight, self.expansion_weight = document_weight, expansion_weight
        self.vocabulary = vocabulary
        self.fusion, self.rrf_k, self.weights, self.prefetch_limit = fusion, rrf_k, weights, prefetch_limit
        # one answer searches with the same question several times (the knowledge base, the policies,
        # an amending document's chunks): its vector is computed once
        self._query_vector = lru_cache(maxsize=256)(embedder.query_vector)
        self.max_embedded_chars = max_embedded_chars

    def dense_text(self, question: str) -> str:
        """What of the question is embedded: all of it up to max_embedded_chars, else its start (who and
        where) and its end (what residents ask comes last) — a pathological 500 characters must not cost
        the model's full quadratic price on every anonymous request."""
        if len(question) <= self.max_embedded_chars:
            return question
        head = self.max_embedded_chars // 3
        return question[:head] + question[-(self.max_embedded_chars - head):]

    def search(self, question: str, top_k: int = 5, filters: SearchFilters | None = None,
               mode: Mode = "hybrid") -> list[SearchHit]:
        """mode: "hybrid" uses the configured fusion; "hybrid_rrf" forces Qdrant's RRF."""
        return self.search_detailed(question, top_k, filters, mode).hits

    def best_dense(self, question: str, filters: SearchFilters | None = None) -> float:
        """Cosine of the question to its closest chunk: how on-topic the corpus is."""
        closest = self.search(question, top_k=1, filters=filters, mode="dense")
        return closest[0].score if closest else 0.0

    def search_detailed(self, question: str, top_k: int = 5, filters: SearchFilters | None = None,
                        mode: Mode = "hybrid", also: list[str] | tuple[str, ...] = ()) -> SearchResult:
        """The hits with the timings of this call (returned, not kept on the retriever, which
        concurrent requests share) and, from the fused path, each signal's scores. The words that
        mean what the question's words mean (the vocabulary's: the people's words ↔ the documents')
        join the BM25 query at a lower weight; `also`, words that answers to this kind of question
        carry ("提交", "原件" for materials), at half that weight."""
        expansion = self.vocabulary.current().expansion(question) if self.vocabulary else ()
        timings = RetrievalTimings()
        best_dense = None
        best: dict[str, float] = {}
        dense = sparse = None
        if mode != "bm25":
            clock = time.perf_counter()
            dense = self._query_vector(self.dense_text(question))
            timings.embed_ms = (time.perf_counter() - clock) * 1000
        if mode != "dense":
            clock = time.perf_counter()
            vec = self.sparse.encode_query(question, expansion, self.expansion_weight, also, self.expansion_weight / 2)
            sparse = (vec.indices, vec.values)
            timings.sparse_ms = (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        # a few extra so that equal RRF scores (returned in varying order) sort stably below
        limit = top_k + 5
        spec = build_filter(filters)
        if mode == "hybrid" and self.fusion == "dbsf":
            lists = self.store.query_each(dense, sparse, spec, limit=max(self.prefetch_limit, limit),
                                          doc_sparse=sparse if self.document_weight else None)
            weighted = [(lists[name], w) for name, w in (("dense", self.weights[0]), ("bm25", self.weights[1]))
                        if name in lists]
            points = dbsf([pts for pts, _ in weighted], [w for _, w in weighted] if len(weighted) == 2 else [1.0])
            if "dense" in lists:
                best_dense = lists["dense"][0].score if lists["dense"] else 0.0
            best = {name: pts[0].score for name, pts in lists.items() if pts}
            # payloads (and so doc ids) only for the candidates the document score can reorder
            candidates = points[:max(3 * limit, 30)]
            payloads = {p.id: p.payload for p in self.store.retrieve([p.id for p in candidates])}
            points = [ScoredChunk(p.id, p.score, payloads[p.id]) for p in candidates if p.id in payloads]
            points = add_document_scores(points, lists.get("document", []), self.document_weight)[:limit]
            signals = _signals_by_id(lists)
        else:
            points = self.store.query(dense, sparse, spec, limit=limit,
                                      prefetch_limit=max(self.prefetch_limit, limit), rrf_k=self.rrf_k,
                                      weights=self.weights)
            signals = None
        timings.search_ms = (time.perf_counter() - clock) * 1000
        points.sort(key=lambda p: (-p.score, p.id))
        hits = [to_hit(p) for p in points[:top_k]]
        if signals is not None:
            for hit in hits:
                hit.signals = {"fused": hit.score, **signals["chunk"].get(hit.chunk_id, {}),
                               **signals["document"].get(hit.doc_id, {})}
        return SearchResult(hits, timings, best_dense, best)

    def search_documents(self, question: str, top_k: int = 10, filters: SearchFilters | None = None,
                         mode: Mode = "hybrid", chunks_per_doc: int = 3, candidates: int = 60) -> list[DocumentMatch]:
        """Documents ranked by their best chunk, each with its best-matching chunks."""
        hits = self.search(question, top_k=candidates, filters=filters, mode=mode)
        docs: dict[str, DocumentMatch] = {}
        for hit in hits:
            doc = docs.get(hit.doc_id)
            if doc is None:
                doc = docs[hit.doc_id] = DocumentMatch(hit.doc_id, hit.score)
            if len(doc.chunks) < chunks_per_doc:
                doc.chunks.append(hit)
        return list(docs.values())[:top_k]


    def document_summaries(self, doc_ids: list[str]) -> dict[str, dict]:
        """Title, 文号 and dates of the given documents (for notices naming them), by doc id."""
        if not doc_ids:
            return {}
        spec = FilterSpec(must=DOCUMENTS.must + [Condition("any", "doc_id", list(doc_ids))])
        fields = ["doc_id", "title", "doc_number", "validity", "published", "effective", "amend_from"]
        return {p["doc_id"]: p for _, p in self.store.scroll_payloads(spec, fields=fields)}

    def neighbours(self, hits: list[SearchHit]) -> dict[str, list[SearchHit]]:
        """The chunks just before and after each hit in its document (chunk_id → [before, after], as
        far as they exist): a list whose lead-in ended one chunk goes on in the next."""
        wanted: dict[str, tuple[str, int]] = {}
        for hit in hits:
            if hit.position is None:
                continue
            for step in (-1, 1):
                if hit.position + step >= 0:
                    wanted[chunk_point_id(hit.doc_id, hit.position + step)] = (hit.chunk_id, step)
        found = {point.id: to_hit(point) for point in self.store.retrieve(list(wanted))} if wanted else {}
        out: dict[str, list[SearchHit]] = {}
        for chunk_id, (of, step) in sorted(wanted.items(), key=lambda item: item[1][1]):
            if chunk_id in found:
                out.setdefault(of, []).append(found[chunk_id])
        return out

    def replacement_of(self, doc_id: str) -> dict | None:
        """The document that says it replaces `doc_id` (metadata `replaces`), if the corpus has one."""
        spec = FilterSpec(must=[Condition("match", "replaces", doc_id)])
        for _, payload in self.store.scroll_payloads(spec, fields=["doc_id", "title", "doc_number", "validity"]):
            return payload
        return None


def _signals_by_id(lists: dict[str, list[ScoredChunk]]) -> dict[str, dict[str, dict[str, float]]]:
    """Raw scores by chunk id ("dense", "bm25") and by doc id ("document")."""
    chunk: dict[str, dict[str, float]] = {}
    for name in ("dense", "bm25"):
        for p in lists.get(name, []):
            chunk.setdefault(p.id, {})[name] = p.score
    document = {p.payload.get("doc_id"): {"document": p.score} for p in lists.get("document", [])}
    return {"chunk": chunk, "document": document}


def to_hit(point: ScoredChunk) -> SearchHit:
    payload = point.payload
    return SearchHit(
        chunk_id=point.id,
        doc_id=payload.get("doc_id", ""),
        score=point.score,
        text=payload.get("text", ""),
        start=int(payload.get("start", 0)),
        end=int(payload.get("end", 0)),
        heading_path=list(payload.get("heading_path") or []),
        document={"doc_id": payload.get("doc_id"), **{k: payload.get(k) for k in _DOC_FIELDS}},
        position=payload.get("position"),
    )
