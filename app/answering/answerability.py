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
            "doc_margin", "quoted_missing", "turn_missing", "topic_missing", "phrase_missing", "kind_in_answer",
            "selector_top", "selector_margin", "dense_gap")
# The direction each feature may push the decision (+1 towards answering, -1 towards refusing, 0 either):
# the fit keeps every coefficient on its side. Unconstrained, correlated features traded signs — full
# title coverage and no missing word came to count *against* an answer, and "失业金去哪儿领？" was refused.
SIGNS = {"dense_top": 1, "bm25_top": 1, "document_top": 1, "coverage": 1, "best_coverage": 1, "source_coverage": 1,
         "largest_missing": -1, "answers_kind": 1, "asks_kind": 0, "title_coverage": 1, "dense_agrees": 1,
         "bm25_agrees": 1, "doc_margin": 1, "quoted_missing": -1, "turn_missing": -1, "topic_missing": -1,
         "phrase_missing": -1, "kind_in_answer": 1, "selector_top": 1, "selector_margin": 1, "dense_gap": 1}
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


def _missing_from(terms: list[TermGroup], text: str) -> float:
    """The share of a question's words (of two characters or more) that a text does not hold."""
    words = [g for g in terms if len(g.word) > 1]
    return sum(1 for g in words if not g.found_in(text)) / len(words) if words else 0.0


def evidence_features(sources: list[SearchHit], best_dense: float, best_signals: dict[str, float],
                      terms: list[TermGroup], kinds: list[str], extract: Any,
                      turn_terms: list[TermGroup] | None = None,
                      topic_terms: list[TermGroup] | None = None,
                      phrases: list[TermGroup] | None = None) -> dict[str, float]:
    """The features the decision reads, by name (kept in the audit event). quoted_missing: the share
    of the question's words that the documents the answer quotes do not hold (their retrieved
    clauses and titles): a neighbouring programme's clause holds the words they share, not the
    programme asked about ("生育津贴能领多少" quoting medical-insurance fees); turn_missing: the same
    for the words typed in this turn, when a follow-up was rewritten with the last question's subject
    ("那我家小区加装电梯有补贴吗" after a 医保 question must not be answered with 医保's clauses);
    topic_missing: the same for the words naming what it is about (its programmes and nouns);
    phrase_missing: the same for those names taken whole ("个人养老金账户" when the documents hold
    "个人账户养老金");
    kind_in_answer: whether a quoted sentence shows the strong sign of what was asked (a figure for an
    amount, a time limit for a deadline): a question about a figure no document states gets none."""
    from app.policy_data import question_kinds

    asked = [kind for name, kind in question_kinds().items() if name in kinds]
    top = sources[0]
    doc_scores: dict[str, float] = {}
    for hit in sources:
        doc_scores.setdefault(hit.doc_id, hit.signals.get("fused", hit.score))
    ranked = sorted(doc_scores.values(), reverse=True)
    margin = (ranked[0] - ranked[1]) / abs(ranked[0]) if len(ranked) > 1 and ranked[0] else 1.0
    quoted = {c.doc_id for sentence in extract.sentences for c in sentence.citations} or {top.doc_id}
    quoted_text = "\n".join([hit.text for hit in sources if hit.doc_id in quoted]
                            + list({hit.doc_id: hit.document.get("title") or "" for hit in sources
                                    if hit.doc_id in quoted}.values()))
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
        "quoted_missing": _missing_from(terms, quoted_text),
        "turn_missing": _missing_from(turn_terms if turn_terms is not None else terms, quoted_text),
        "topic_missing": _missing_from(topic_terms or [], quoted_text),
        "phrase_missing": _missing_from(phrases or [], quoted_text),
        "kind_in_answer": max((kind.answered_by(s.text) for kind in asked for s in extract.sentences), default=0.0)
        if asked else 0.5,
        "selector_top": float(getattr(extract, "selector_top", 0.0)),
        "selector_margin": float(getattr(extract, "selector_margin", 0.0)),
        # how far the closest chunk stands out from the others: a short question ("失业金去哪儿领？") is
        # less similar to every chunk than a long one, but its answer still stands out
        "dense_gap": _dense_gap(sources),
    }


def _dense_gap(sources: list[SearchHit]) -> float:
    scores = sorted((hit.signals["dense"] for hit in sources if "dense" in hit.signals), reverse=True)
    return scores[0] - scores[len(scores) // 2] if len(scores) > 1 else 0.0


_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)\s*年(?:度)?")
# a year that says when something happened to the asker, not which year's rules are asked about
_BIOGRAPHICAL = re.compile(r"\s*年?(?:度)?\s*(?:年底|年初|年中|上半年|下半年|\d{1,2}\s*月\s*(?:\d{1,2}\s*[日号])?)?"
                           r"\s*(?:的时候|那会儿?)?(?:我|他|她|孩子|家里)?"
                           r"(?:出生|生的|生人|退休|参加|参保|开始|入职|结婚|毕业|去世|走的|没的|离婚|落户|买的|租的|来京|到京"
                           r"|住院|看病|生病|花的|花了|失业|离职|被辞退)")


def asked_years(question: str, this_year: int) -> set[int]:
    """The years whose rules or figures a question asks about, written out ("2026年国庆节", "2025年度")
    — not the year something happened to the asker ("1931年出生的", "2019年退休"). "今年" is left
    alone: residents say it of themselves ("我爸今年85了") far more than of the rules. `this_year`
    bounds what counts as a year (a figure like 2049年 is not one)."""
    return {year for m in _YEAR.finditer(question) if not _BIOGRAPHICAL.match(question, m.end(1))
            and (year := int(m.group(1))) <= this_year + 1}


def _years_in(text: str) -> set[int]:
    return {int(y) for y in re.findall(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?=\s*年)", text)}


def other_year(question: str, sources: list[SearchHit], quoted: set[str], this_year: int,
               sentences: list[str] | None = None) -> str | None:
    """When the question asks about a year that the answer does not cover — no quoted document's
    title, dates or quoted sentences name it ("2026年国庆节放几天假" from the 2019 schedule; "2025年低保涨到
    多少" from the notice of 2024's standard) — the asked and the covered years ("2026 ≠ 2019"). None
    when the question names no year, or a quoted document states a standing rule (its title, dates
    and quoted sentences name no year at all: any year's question may be answered from it)."""
    asked = asked_years(question, this_year)
    if not asked or not quoted:
        return None
    covered: set[int] = set()
    for doc_id in quoted:
        doc = next(hit.document for hit in sources if hit.doc_id == doc_id)
        years = _years_in(doc.get("title") or "") | {int(y) for y in re.findall(r"(20[0-4]\d)年度", doc.get("title") or "")}
        years |= set().union(*(_years_in(s) for s in sentences or []))
        if not years:
            return None
        covered |= years | {int(d[:4]) for d in (doc.get("published"), doc.get("effective")) if d}
    if asked & covered:
        return None
    return f"{'、'.join(map(str, sorted(asked)))} ≠ {'、'.join(map(str, sorted(covered)))}"


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
