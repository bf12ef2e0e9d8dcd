"""Can the retrieved sources answer the question? A calibrated decision, not a fixed threshold.

A logistic model over features of the retrieval and of the extractive pass (how close the best
chunk is, how much of the question — counting the people's words as the documents' — the best
sentence and the sources hold, whether the best sentence looks like what was asked, whether the
dense and BM25 searches agree on the document, …), fitted by `jingce train answerability` on
answerable questions (the COVID and Beijing dev sets) and unanswerable ones
(tests/data/unanswerable.txt, tests/data/out_of_scope.txt), with the refusal threshold chosen by
cross-validation. The model is data: models/answerability.json, with its features, scaling,
coefficients, threshold and the cross-validated error rates it was accepted on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from app.domain import SearchHit
from app.linear_model import LinearModel
from app.vocabulary import TermGroup

FEATURES = ("dense_top", "bm25_top", "document_top", "coverage", "best_coverage", "source_coverage",
            "largest_missing", "answers_kind", "asks_kind", "title_coverage", "dense_agrees", "bm25_agrees",
            "doc_margin")
# Not a feature: the question's length. The COVID questions are long and the unanswerable lists short,
# so a model reading length learns to refuse short questions — which is how residents ask.


def _share(terms: list[TermGroup], text: str) -> float:
    return sum(1 for g in terms if g.found_in(text)) / len(terms) if terms else 0.0


def _top_doc_by(sources: list[SearchHit], signal: str) -> str | None:
    scored = [(hit.signals.get(signal, float("-inf")), -i, hit.doc_id) for i, hit in enumerate(sources)]
    best = max(scored, default=None)
    return best[2] if best and best[0] != float("-inf") else None


def evidence_features(sources: list[SearchHit], best_dense: float, best_signals: dict[str, float],
                      terms: list[TermGroup], kinds: list[str], extract: Any) -> dict[str, float]:
    """The features the decision reads, by name (kept in the audit event)."""
    top = sources[0]
    doc_scores: dict[str, float] = {}
    for hit in sources:
        doc_scores.setdefault(hit.doc_id, hit.signals.get("fused", hit.score))
    ranked = sorted(doc_scores.values(), reverse=True)
    margin = (ranked[0] - ranked[1]) / abs(ranked[0]) if len(ranked) > 1 and ranked[0] else 1.0
    return {
        "dense_top": best_dense,
        "bm25_top": math.log1p(max(best_signals.get("bm25", 0.0), 0.0)),
        "document_top": math.log1p(max(best_signals.get("document", 0.0), 0.0)),
        "coverage": extract.coverage,
        "best_coverage": extract.best_coverage,
        "source_coverage": extract.source_coverage,
        "largest_missing": extract.largest_missing,
        "answers_kind": float(extract.answers_kind),
        "asks_kind": float(bool(kinds)),
        "title_coverage": _share(terms, top.document.get("title") or ""),
        "dense_agrees": float(_top_doc_by(sources, "dense") == top.doc_id),
        "bm25_agrees": float(_top_doc_by(sources, "bm25") == top.doc_id),
        "doc_margin": max(min(margin, 1.0), 0.0),
    }


class AnswerabilityModel:
    """The fitted model and its threshold: refuse below it."""

    trained_by = "jingce train answerability"

    def __init__(self, model: LinearModel) -> None:
        self.model = model
        self.threshold = model.threshold if model.threshold is not None else 0.5

    @property
    def version(self) -> str:
        return self.model.version

    def probability(self, evidence: dict[str, float]) -> float:
        return self.model.probability(evidence)

    @classmethod
    def load(cls, path: Path) -> "AnswerabilityModel":
        return cls(LinearModel.load(path, FEATURES, cls.trained_by))
