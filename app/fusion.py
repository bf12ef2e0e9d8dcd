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


def dbsf(lists: Sequence[Sequence[ScoredChunk]], weights: Sequence[float]) -> list[ScoredChunk]:
    fused: dict[str, ScoredChunk] = {}
    totals: dict[str, float] = {}
    for points, weight in zip(lists, weights):
        if not points or weight == 0:
            continue
        scores = [p.score for p in points]
        mean = statistics.fmean(scores)
        spread = 6 * statistics.pstdev(scores)
        for p in points:
            normalised = (p.score - (mean - spread / 2)) / spread if spread > 0 else 1.0
            # not clipped at 1: a match far above the rest is exactly the evidence to keep
            totals[p.id] = totals.get(p.id, 0.0) + weight * normalised
            fused.setdefault(p.id, p)
    out = [ScoredChunk(pid, totals[pid], fused[pid].payload) for pid in fused]
    out.sort(key=lambda p: (-p.score, p.id))
    return out
