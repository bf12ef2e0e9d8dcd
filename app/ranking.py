"""A learned document ranker over the hybrid search's candidates.

The fused search ranks chunks; an answer quotes a document, and picking the wrong one is what cost
citation precision. This ranker scores each candidate document on features the search already
computed (its best fused, dense and BM25 scores against the best of each list, its whole-document
BM25, how many candidate chunks it has, how much of the question — the people's words counted as
the documents' — its title and its chunks hold, its validity) with a model fitted by
`jingce train ranker` on the dev questions with K-fold cross-validation, and returns the chunks
grouped by document in the new order. The model is data: models/doc_ranker.json.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from app.domain import NOT_IN_FORCE, SearchHit
from app.linear_model import LinearModel
from app.vocabulary import TermGroup

FEATURES = ("fused", "fused_rank", "dense", "bm25", "document", "chunks", "title", "body", "in_force", "amended",
            "phrase", "place")
_PLACE = re.compile(r"[\u4e00-\u9fff]{2,8}?(?:省|市|区|县|州|自治区|特别行政区)|国务院|[\u4e00-\u9fff]{1,6}部|[\u4e00-\u9fff]{2,8}局")


def longest_shared_run(question: str, text: str) -> int:
    """Length of the longest run of characters the question and the text share: a phrase ("稳岗返还",
    a programme's name) matched whole, which bag-of-words scores do not see."""
    from difflib import SequenceMatcher

    match = SequenceMatcher(None, question, text, autojunk=False).find_longest_match(0, len(question), 0, len(text))
    return match.size


def document_features(hits: list[SearchHit], terms: list[TermGroup], best: dict[str, float],
                      question: str = "") -> dict[str, dict[str, float]]:
    """Features of each candidate document, by doc id, from its chunks among `hits`."""
    places = set(_PLACE.findall(question))
    core = re.sub(r"[^\u4e00-\u9fff\w]", "", question)
    by_doc: dict[str, list[SearchHit]] = {}
    for hit in hits:
        by_doc.setdefault(hit.doc_id, []).append(hit)
    top_fused = max((h.signals.get("fused", h.score) for h in hits), default=1.0) or 1.0
    out = {}
    for rank, (doc_id, chunks) in enumerate(by_doc.items()):
        doc = chunks[0].document
        text = "\n".join(h.text for h in chunks)
        dense = max((h.signals["dense"] for h in chunks if "dense" in h.signals), default=None)
        bm25 = max((h.signals["bm25"] for h in chunks if "bm25" in h.signals), default=0.0)
        n = len(terms) or 1
        out[doc_id] = {
            "fused": max(h.signals.get("fused", h.score) for h in chunks) / top_fused,
            "fused_rank": 1.0 / (1 + rank),
            "dense": (dense - best.get("dense", dense)) if dense is not None else -0.1,
            "bm25": bm25 / best["bm25"] if best.get("bm25") else 0.0,
            "document": chunks[0].signals.get("document", 0.0) / best["document"] if best.get("document") else 0.0,
            "chunks": math.log1p(len(chunks)),
            "title": sum(1 for g in terms if g.found_in(doc.get("title") or "")) / n,
            "body": sum(1 for g in terms if g.found_in(text)) / n,
            "in_force": float(doc.get("validity") not in NOT_IN_FORCE),
            "amended": float(bool(doc.get("amended_by"))),
            "phrase": longest_shared_run(core, (doc.get("title") or "") + text) / (len(core) or 1),
            # the question names a place or an agency: does the document's title or issuer?
            "place": (sum(1 for p in places if p in (doc.get("title") or "") + (doc.get("issuer") or "")
                          + chunks[0].text[:80]) / len(places)) if places else 0.5,
        }
    return out


class DocumentRanker:
    trained_by = "jingce train ranker"

    def __init__(self, model: LinearModel) -> None:
        self.model = model

    @property
    def version(self) -> str:
        return self.model.version

    def rerank(self, question: str, hits: list[SearchHit], terms: list[TermGroup],
               best: dict[str, float]) -> list[SearchHit]:
        """The chunks grouped by document, documents by the model's score (ties: the fused
        order), in fused order within a document."""
        features = document_features(hits, terms, best, question)
        order = {doc_id: i for i, doc_id in enumerate(features)}
        ranked = sorted(features, key=lambda d: (-self.model.decision(features[d]), order[d]))
        position = {doc_id: i for i, doc_id in enumerate(ranked)}
        return sorted(hits, key=lambda h: position[h.doc_id])  # stable: fused order within a document

    @classmethod
    def load(cls, path: Path) -> "DocumentRanker":
        return cls(LinearModel.load(path, FEATURES, cls.trained_by))


def at_most_per_document(hits: list[SearchHit], limit: int) -> list[SearchHit]:
    """The hits in their order, with no more than `limit` from one document, so that the sources
    of an answer are not eight clauses of one document when a second one holds the answer."""
    taken: dict[str, int] = {}
    out = []
    for hit in hits:
        if taken.get(hit.doc_id, 0) < limit:
            out.append(hit)
            taken[hit.doc_id] = taken.get(hit.doc_id, 0) + 1
    return out
