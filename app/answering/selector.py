"""The learned answer selector: which sentence of the retrieved sources answers the question.

The extractive composer turns the sources into candidate sentences (app/answering/extractive.py);
this module describes each candidate by features and scores them with a gradient-boosted ranker
(LightGBM, lambdarank objective) fitted by `jingce train selector` on the question bank's train split
and the COVID dev answer spans, with cross-validation grouped by document. What used to be hand rules
are features here, in named groups whose contribution the training report measures (drop a group,
fit again, score again):

- lexical: how much of the question the sentence and its headings hold (IDF-weighted words, character
  pairs, the longest shared phrase);
- vocabulary: words held only through the people's words (失业金 ↔ 失业保险金);
- kind: what the question asks (amount, deadline, who, …) and how much the sentence looks like each
  kind of answer (policies/question_kinds.yml), its headings too, and whether it states an exception;
- structure: lead-in of a list, list item, a list whose items look like the answer, length, depth of headings;
- numbers: figures, years, and whether a year the question names is the document's;
- position: rank of its chunk, place in the chunk and the document;
- retrieval: the dense, fused and BM25 scores of its chunk against the best;
- document: rank and currency of its document — in force, amended by or amending a retrieved document,
  a figure a newer retrieved document restates (or the restatement), recency among the sources.

The model is data: models/answer_selector.json holds the booster as LightGBM's text, its features,
version and cross-validated report. Scoring a question's candidates takes a millisecond or two.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from app.answering.extractive import LIST_NUMBER
from app.domain import NOT_IN_FORCE, SearchHit

KIND_NAMES = ("amount", "deadline", "who", "material", "condition", "age", "requirement", "procedure")

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "lexical": ("relevance", "relevance_rel", "own", "around", "covered", "pairs_text", "pairs_all", "phrase"),
    "vocabulary": ("via_equivalent",),
    "kind": (*(f"asks_{k}" for k in KIND_NAMES), *(f"cue_{k}" for k in KIND_NAMES), "cue_asked", "cue_context",
             "exception"),
    "structure": ("lead_in", "list_item", "list_share", "first_in_paragraph", "length", "heading_depth",
                  "heading_terms"),
    "numbers": ("numbers", "has_year", "year_match", "range_match"),
    "position": ("chunk_rank", "place_in_chunk", "doc_offset"),
    "retrieval": ("dense", "fused", "bm25"),
    "document": ("doc_rank", "in_force", "amended", "amends", "figure_superseded", "figure_current", "title_terms",
                 "recency"),
    # the hand-weighted score the selector replaced, as one more opinion (relative to the best candidate's)
    "hand_score": ("hand", "hand_rel"),
}
FEATURES: tuple[str, ...] = tuple(name for names in FEATURE_GROUPS.values() for name in names)

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# character pairs of how questions are asked, not what about
_ASKING_PAIRS = frozenset({"多少", "什么", "怎么", "哪里", "哪儿", "能不", "不能", "可以", "是不", "不是", "请问", "我们",
                           "我家", "我的", "一下", "需要", "要求", "能领", "能拿", "的话", "现在", "还能", "还是"})
_EXCEPTION = re.compile(r"除外|不予|不得|不再|不能|不属于|不适用|不纳入|不享受|不设|无需|不需|免于|停止|终止|取消")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?=\s*年|\s*年度|(?!\d))")
_TEXT_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)\s*年")


def _pairs(text: str) -> set[str]:
    return {run[i:i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)}


def _longest_shared(question: str, text: str) -> int:
    """The longest run of the question's characters found whole in the text."""
    n = len(question)
    best = 0
    for i in range(n):
        j = i + best + 1
        while j <= n and question[i:j] in text:
            best = j - i
            j += 1
    return best


# a range a sentence states: "80周岁至89周岁", "80-89周岁", "2000元(含)到3万元(含)", "60周岁以上"
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(万)?[^\d，。；、]{0,6}?(?:至|到|-|—|～|~)\s*(\d+(?:\.\d+)?)\s*(万)?")
_BOUND = re.compile(r"(\d+(?:\.\d+)?)\s*(万)?\s*(?:周岁|岁|元|年|个月|%|％)?\s*(?:\(含\)|（含）)?\s*(以上|以下|及以上|及以下|以内)")
_QUESTION_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(万)?")


def _value(number: str, wan: str | None) -> float:
    return float(number) * (10000 if wan else 1)


def range_match(question_numbers: list[float], text: str) -> float:
    """1 when a number the question states falls in a range or past a bound the sentence states (an
    85-year-old and "80周岁至89周岁", a 30,000 yuan bill and "2000元(含)到3万元(含)"), 0.5 when the
    sentence states the number itself, else 0."""
    if not question_numbers:
        return 0.0
    text = LIST_NUMBER.sub("", text)  # "2.90周岁至99周岁": item 2, from 90
    for m in _RANGE.finditer(text):
        low, high = _value(m.group(1), m.group(2)), _value(m.group(3), m.group(4) or m.group(2))
        if low < high and any(low <= n <= high for n in question_numbers):
            return 1.0
    for m in _BOUND.finditer(text):
        bound = _value(m.group(1), m.group(2))
        if any((n >= bound) if m.group(3) in ("以上", "及以上") else (n <= bound) for n in question_numbers):
            return 1.0
    stated = {float(n) for n in _NUMBER.findall(text)}
    return 0.5 if stated & set(question_numbers) else 0.0


def question_years(question: str) -> set[str]:
    return set(_YEAR.findall(question))


def document_year(document: dict[str, Any]) -> int | None:
    for key in ("effective", "published", "written"):
        value = document.get(key)
        if value and re.match(r"\d{4}", value):
            return int(value[:4])
    return None


@dataclass
class QuestionView:
    """What every candidate's features read of the question, computed once."""

    text: str
    core: str
    pairs: set[str]
    years: set[str]
    numbers: list[float]  # the numbers it states ("85岁", "3万"), for the ranges of a sentence
    asked: list[Any]  # the QuestionKind objects asked
    asked_names: set[str]
    weight: list[float]
    attainable: float
    terms: list[Any] = field(default_factory=list)


def question_view(question: str, kinds: list[str], kind_table: dict[str, Any], terms: list[Any],
                  weight: list[float], attainable: float) -> QuestionView:
    core = re.sub(r"[^\u4e00-\u9fff\w]", "", question)
    numbers = [_value(n, wan) for n, wan in _QUESTION_NUMBER.findall(question)]
    return QuestionView(question, core, _pairs(question) - _ASKING_PAIRS, question_years(question), numbers,
                        [kind_table[k] for k in kinds if k in kind_table], set(kinds), weight, attainable or 1.0,
                        terms)


def candidate_features(view: QuestionView, candidates: Sequence[Any], sources: list[SearchHit],
                       kind_table: dict[str, Any], list_share: dict[int, float],
                       figure_roles: dict[int, tuple[bool, bool]], hand: Sequence[float] = ()) -> np.ndarray:
    """One row of FEATURES per candidate sentence (app.answering.extractive._Sentence objects).
    `list_share`: for a lead-in (by index), the share of its list's items that look like the asked
    kind; `figure_roles`: (superseded, current) for a figure a newer retrieved document restates;
    `hand`: each candidate's hand-weighted score."""
    rows = np.zeros((len(candidates), len(FEATURES)), dtype=np.float64)
    if not candidates:
        return rows
    index = {name: i for i, name in enumerate(FEATURES)}
    top_relevance = max(c.relevance for c in candidates) or 1.0
    best = {signal: max((h.signals.get(signal, 0.0) for h in sources), default=0.0) for signal in ("fused", "bm25")}
    best_dense = max((h.signals["dense"] for h in sources if "dense" in h.signals), default=None)
    present = {h.doc_id for h in sources}
    years = [y for y in (document_year(h.document) for h in sources) if y]
    newest = max(years, default=None)
    per_chunk: dict[int, int] = {}
    for c in candidates:
        per_chunk[c.rank] = per_chunk.get(c.rank, 0) + 1
    seen_in_chunk: dict[int, int] = {}
    pairs_total = len(view.pairs) or 1
    core_len = len(view.core) or 1
    kinds = [kind_table[k] for k in KIND_NAMES if k in kind_table]
    for row, c in enumerate(candidates):
        hit = sources[c.rank]
        doc = hit.document
        text, context = c.text, c.context
        headings = " ".join(hit.heading_path)
        title = doc.get("title") or ""
        f = rows[row]
        # lexical
        f[index["relevance"]] = c.relevance
        f[index["relevance_rel"]] = c.relevance / top_relevance
        f[index["own"]] = sum(view.weight[i] for i in c.matched) / view.attainable
        f[index["around"]] = sum(view.weight[i] for i in c.in_context) / view.attainable
        f[index["covered"]] = c.covered
        text_pairs = _pairs(text)
        f[index["pairs_text"]] = len(view.pairs & text_pairs) / pairs_total
        f[index["pairs_all"]] = len(view.pairs & (text_pairs | _pairs(context))) / pairs_total
        f[index["phrase"]] = _longest_shared(view.core, text) / core_len
        # vocabulary: words the sentence holds only as another word meaning the same
        f[index["via_equivalent"]] = sum(view.weight[i] for i in c.matched
                                         if view.terms and view.terms[i].word not in text) / view.attainable
        # kind
        for k in view.asked_names & set(KIND_NAMES):
            f[index[f"asks_{k}"]] = 1.0
        for kind in kinds:
            f[index[f"cue_{kind.name}"]] = kind.answered_by(text)
        f[index["cue_asked"]] = c.cue
        f[index["cue_context"]] = max((kind.answered_by(context) for kind in view.asked), default=0.0)
        f[index["exception"]] = float(bool(_EXCEPTION.search(text)))
        # structure
        f[index["lead_in"]] = float(c.lead_in)
        f[index["list_item"]] = float(c.list_item)
        f[index["list_share"]] = list_share.get(row, 0.0)
        place = seen_in_chunk.get(c.rank, 0)
        seen_in_chunk[c.rank] = place + 1
        f[index["first_in_paragraph"]] = float(row == 0 or candidates[row - 1].paragraph != c.paragraph)
        f[index["length"]] = math.log1p(len(text))
        f[index["heading_depth"]] = len(hit.heading_path)
        f[index["heading_terms"]] = sum(w for g, w in zip(view.terms, view.weight) if g.found_in(headings)) \
            / view.attainable if view.terms else 0.0
        # numbers
        f[index["numbers"]] = min(len(_NUMBER.findall(text)), 6)
        f[index["range_match"]] = range_match(view.numbers, text)
        text_years = set(_TEXT_YEAR.findall(text))
        f[index["has_year"]] = float(bool(text_years))
        if view.years:
            doc_years = text_years | set(_TEXT_YEAR.findall(title)) | {str(document_year(doc) or "")}
            f[index["year_match"]] = 1.0 if view.years & doc_years else -1.0
        # position
        f[index["chunk_rank"]] = c.rank
        f[index["place_in_chunk"]] = place / per_chunk[c.rank]
        f[index["doc_offset"]] = math.log1p(c.offset)
        # retrieval
        dense = hit.signals.get("dense")
        f[index["dense"]] = (dense - best_dense) if dense is not None and best_dense is not None else -0.1
        f[index["fused"]] = hit.signals.get("fused", hit.score) / best["fused"] if best["fused"] else 0.0
        f[index["bm25"]] = hit.signals.get("bm25", 0.0) / best["bm25"] if best["bm25"] else 0.0
        # document
        f[index["doc_rank"]] = c.doc_rank
        f[index["in_force"]] = float(doc.get("validity") not in NOT_IN_FORCE)
        f[index["amended"]] = float(bool(set(doc.get("amended_by") or []) & present))
        f[index["amends"]] = float(bool(set(doc.get("amends") or []) & present))
        superseded, current = figure_roles.get(row, (False, False))
        f[index["figure_superseded"]] = float(superseded)
        f[index["figure_current"]] = float(current)
        f[index["title_terms"]] = sum(w for g, w in zip(view.terms, view.weight) if g.found_in(title)) \
            / view.attainable if view.terms else 0.0
        year = document_year(doc)
        f[index["recency"]] = (year - newest) if year and newest else 0.0
    if len(hand):
        top = max(hand) or 1.0
        rows[:, index["hand"]] = hand
        rows[:, index["hand_rel"]] = np.asarray(hand) / top
    return rows


class SentenceSelector:
    """The fitted ranker: a score per candidate, higher answers better (comparable within a question)."""

    trained_by = "jingce train selector"

    def __init__(self, booster: Any, features: tuple[str, ...], version: str = "",
                 report: dict[str, Any] | None = None) -> None:
        self.booster, self.features, self.version, self.report = booster, features, version, report or {}
        self._columns = [FEATURES.index(name) for name in features]

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(matrix[:, self._columns], num_threads=1))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": self.version, "features": list(self.features), "report": self.report,
                "booster": self.booster.model_to_string()}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "SentenceSelector":
        import lightgbm

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            booster = lightgbm.Booster(model_str=data["booster"])
            features = tuple(data["features"])
        except (OSError, ValueError, KeyError, lightgbm.basic.LightGBMError) as exc:
            raise RuntimeError(f"model {path} cannot be read ({exc}); `{cls.trained_by}` writes it") from exc
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise RuntimeError(f"model {path} does not fit this version's features (unknown: {sorted(unknown)}); "
                               f"run `{cls.trained_by}` again")
        return cls(booster, features, data.get("version", ""), data.get("report", {}))
