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
import re
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


# a question about Beijing that names another place as where someone comes from
# ("河北户口的老人在北京…", "外地户籍"): Beijing's rules answer it
_ABOUT_BEIJING = re.compile(r"北京|本市|在京|京籍|京内")
_ORIGIN_AFTER = ("户口", "户籍", "籍", "老家", "人")


_BEIJING_LEVELS = ("市级", "区级")  # of domain.LEVELS: documents that bind Beijing only


def unmatched_place(question: str, sources: list[SearchHit], places: frozenset[str],
                    quoted: set[str]) -> str | None:
    """A place outside Beijing (policies/dictionaries/other_places.txt) the question is about and
    no source mentions, in its text or its document's title, when the answer would quote only
    Beijing's own documents (`quoted`: their doc_ids): it would state Beijing's rules as that
    place's. None when there is none, when the question names Beijing, when the place is only
    where someone comes from ("河北户口"), or when a national document (or one of unknown level)
    would be quoted — national rules apply there too."""
    levels = {hit.doc_id: hit.document.get("level") for hit in sources}
    if _ABOUT_BEIJING.search(question) or not quoted or any(levels.get(d) not in _BEIJING_LEVELS for d in quoted):
        return None
    for place in sorted(places, key=len, reverse=True):
        at = question.find(place)
        if at < 0 or question[at + len(place):].startswith(_ORIGIN_AFTER):
            continue
        if not any(place in hit.text or place in (hit.document.get("title") or "") for hit in sources):
            return place
    return None


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
