"""Weighted distribution-based score fusion (DBSF) of ranked lists.

Each list's scores are mapped by (s − (μ − 3σ)) / 6σ, μ and σ taken over that list (as
Qdrant's own DBSF does), then summed with weights; a point missing from a list adds nothing for
it. Unlike RRF it keeps how far ahead the best match is, which matters when BM25 finds one clause
that shares a long phrase with the question (docs/adr/0002-sparse-tokens-and-fusion.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from app.clients.vector_store import ScoredChunk


def _normalised(points: Sequence[ScoredChunk]) -> dict[str, float]:
    scores = [p.score for p in points]
    mean = statistics.fmean(scores)
    spread = 6 * statistics.pstdev(scores)
    return {p.id: (p.score - (mean - spread / 2)) / spread if spread > 0 else 1.0 for p in points}


def add_document_scores(chunks: list[ScoredChunk], documents: Sequence[ScoredChunk], weight: float) -> list[ScoredChunk]:
    """Each chunk gains `weight` × its document's normalised whole-document BM25 score: a clause of
    the document that is about the question as a whole outranks a look-alike clause elsewhere."""
    if not documents or weight == 0:
        return chunks
    normalised = _normalised(documents)
    by_doc = {d.payload.get("doc_id"): normalised[d.id] for d in documents}
    out = [ScoredChunk(c.id, c.score + weight * by_doc.get(c.payload.get("doc_id"), 0.0), c.payload) for c in chunks]
    out.sort(key=lambda p: (-p.score, p.id))
    return out


def dbsf(lists: Sequence[Sequence[ScoredChunk]], weights: Sequence[float]) -> list[ScoredChunk]:
    fused: dict[str, ScoredChunk] = {}
    totals: dict[str, float] = {}
    for points, weight in zip(lists, weights):
        if not points or weight == 0:
            continue
        # not clipped at 1: a match far above the rest is exactly the evidence to keep
        for p, normalised in zip(points, _normalised(points).values()):
            totals[p.id] = totals.get(p.id, 0.0) + weight * normalised
            fused.setdefault(p.id, p)
    out = [ScoredChunk(pid, totals[pid], fused[pid].payload) for pid in fused]
    out.sort(key=lambda p: (-p.score, p.id))
    return out
