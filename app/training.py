"""Fitting the two models the answer path learns, with K-fold cross-validation on the dev questions:
the document ranker (models/doc_ranker.json) and the answerability decision
(models/answerability.json). `jingce train ranker` first: it decides which sources the
answerability features are read from; then `jingce train answerability`.

Both are logistic models over features the pipeline already computes, kept as JSON
(app/linear_model.py): the ranker fitted on pairs of candidate documents (gold against the others),
the answerability decision on questions (answerable against not).
Folds group the rows of one question (and, for the unanswerable lists, the same question asked of both
corpora), so no question is scored by a model that saw it. Reports give cross-validated numbers only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.answering.answerability import FEATURES as EVIDENCE_FEATURES
from app.domain import SearchFilters
from app.evaluation import EvalQuestion, ask, evaluation_services, load_eval_questions, question_lines
from app.linear_model import LinearModel
from app.pipeline.context import AnswerContext
from app.policy_data import kind_search_words
from app.ranking import FEATURES as RANKER_FEATURES
from app.ranking import document_features

GUARDRAIL_STOPS = {"crisis", "refused_injection", "out_of_scope", "invalid_question"}
# inverse regularisation of the answerability model (compared at 0.1 / 0.3 / 1 / 3 on the same
# folds: false refusals equal, false answers within a point; 0.3 the steadiest)
ANSWERABILITY_C = 0.3


@dataclass
class DevSet:
    name: str  # "covid" | "residents"
    corpus: Path | list[Path]
    questions: list[EvalQuestion]
    filters: SearchFilters


def dev_sets(covid_corpus: Path | None, covid_questions: Path | None, residents_questions: Path | None,
             bundled: list[Path]) -> list[DevSet]:
    sets = []
    if covid_corpus and covid_questions:
        sets.append(DevSet("covid", covid_corpus, load_eval_questions(covid_questions),
                           SearchFilters(include_not_in_force=True)))
    if residents_questions:
        sets.append(DevSet("residents", bundled, load_eval_questions(residents_questions), SearchFilters()))
    if not sets:
        raise ValueError("no dev questions given")
    return sets


def _fit(x: np.ndarray, y: np.ndarray, features: tuple[str, ...], c: float, weights: np.ndarray) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y, sample_weight=weights)
    return LinearModel(features, mean.tolist(), scale.tolist(), model.coef_[0].tolist(), float(model.intercept_[0]))


def _folds(groups: list[str], k: int) -> list[np.ndarray]:
    """Test-row indices of each fold; the rows of a group stay together, groups spread evenly."""
    fold_of = {g: i % k for i, g in enumerate(sorted(set(groups), key=hash_text))}
    return [np.array([i for i, g in enumerate(groups) if fold_of[g] == f]) for f in range(k)]


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _version(kind: str) -> str:
    return f"{kind}/{dt.date.today().isoformat()}"


# ---- document ranker ----

@dataclass
class RankerRow:
    dev: str
    question: str
    doc_ids: list[str]  # in the fused search's order
    features: list[dict[str, float]]
    gold: set[str]


def ranker_rows(services, dev: DevSet, candidates: int) -> list[RankerRow]:
    """For each question, its candidate documents (those of the search's top `candidates` chunks)
    with their features, as the answer pipeline's retrieve step sees them."""
    steps = [s for s in services.pipeline.steps if s.name in ("check_question", "rewrite_question", "read_question")]
    rows = []
    for q in dev.questions:
        ctx = ask(services, q.question, q.history, dev.filters, channel="train", run=lambda c: _prepared(steps, c))
        if ctx.stopped:
            continue
        result = services.retriever.search_detailed(ctx.search_question, top_k=candidates, filters=dev.filters,
                                                    also=kind_search_words(ctx.kinds))
        features = document_features(result.hits, ctx.terms, result.best, ctx.search_question)
        rows.append(RankerRow(dev.name, q.question, list(features), list(features.values()), set(q.gold_doc_ids)))
    return rows


def _prepared(steps, ctx: AnswerContext) -> AnswerContext:
    for step in steps:
        if ctx.stopped:
            break
        step(ctx)
    return ctx


def _ranking_metrics(ranked: list[list[str]], gold: list[set[str]]) -> dict[str, float]:
    r1 = mrr = 0.0
    for docs, wanted in zip(ranked, gold):
        rank = next((i + 1 for i, d in enumerate(docs[:10]) if d in wanted), None)
        r1 += rank == 1
        mrr += 1 / rank if rank else 0.0
    n = max(len(ranked), 1)
    return {"recall@1": r1 / n, "mrr@10": mrr / n}


def _fit_pairwise(rows: list[RankerRow], c: float = 1.0) -> LinearModel:
    """A linear ranker fitted on pairs (RankNet's objective with a linear scorer): for every
    question, each gold document against each other candidate; the scores only order documents."""
    from sklearn.linear_model import LogisticRegression

    all_x = np.array([[f[name] for name in RANKER_FEATURES] for row in rows for f in row.features])
    mean, scale = all_x.mean(axis=0), all_x.std(axis=0)
    scale[scale == 0] = 1.0
    x, y = [], []
    for row in rows:
        vectors = (np.array([[f[name] for name in RANKER_FEATURES] for f in row.features]) - mean) / scale
        gold = [i for i, d in enumerate(row.doc_ids) if d in row.gold]
        for g in gold:
            for other in range(len(row.doc_ids)):
                if other not in gold:
                    x += [vectors[g] - vectors[other], vectors[other] - vectors[g]]
                    y += [1, 0]
    model = LogisticRegression(C=c, max_iter=5000, fit_intercept=False).fit(np.array(x), np.array(y))
    return LinearModel(RANKER_FEATURES, mean.tolist(), scale.tolist(), model.coef_[0].tolist())


def train_ranker(rows: list[RankerRow], folds: int = 5) -> LinearModel:
    """Pairwise logistic over candidate documents; recall@1 and MRR@10 cross-validated by
    question, beside the fused search's own order."""
    groups = [row.question for row in rows]
    cv_ranked: dict[int, list[str]] = {}
    for test in _folds(groups, folds):
        test_set = set(test.tolist())
        model = _fit_pairwise([row for i, row in enumerate(rows) if i not in test_set])
        for i in test_set:
            row = rows[i]
            scores = [model.decision(f) for f in row.features]
            cv_ranked[i] = [d for _, _, d in sorted(zip((-s for s in scores), range(len(scores)), row.doc_ids))]
    report: dict[str, Any] = {"folds": folds, "questions": len(rows),
                              "candidates": sum(len(row.doc_ids) for row in rows)}
    for dev in sorted({row.dev for row in rows}):
        idx = [i for i, row in enumerate(rows) if row.dev == dev]
        report[dev] = {"fused": _ranking_metrics([rows[i].doc_ids for i in idx], [rows[i].gold for i in idx]),
                       "ranker_cv": _ranking_metrics([cv_ranked[i] for i in idx], [rows[i].gold for i in idx])}
    final = _fit_pairwise(rows)
    final.version, final.report = _version("doc_ranker"), report
    return final


# ---- answerability ----

@dataclass
class EvidenceRow:
    source: str  # "covid", "residents", or the unanswerable list it came from, with the corpus
    question: str
    answerable: bool
    evidence: dict[str, float] | None  # None: refused before the decision (nothing retrieved)


def answerability_rows(services, dev: DevSet, unanswerable: list[Path]) -> list[EvidenceRow]:
    """The evidence features of every dev question (answerable) and of every line of the
    unanswerable lists (asked of this corpus too) that the guardrails let through."""
    rows = []
    for q in dev.questions:
        ctx = ask(services, q.question, q.history, dev.filters, channel="train")
        rows.append(EvidenceRow(dev.name, q.question, True, _decided_by_model(ctx)))
    for path in unanswerable:
        for line in question_lines(path):
            ctx = services.pipeline.run(AnswerContext(line, channel="train", filters=dev.filters))
            if ctx.status in GUARDRAIL_STOPS:
                continue
            rows.append(EvidenceRow(f"{path.name}@{dev.name}", line, False, _decided_by_model(ctx)))
    return rows


def _decided_by_model(ctx) -> dict[str, float] | None:
    """The evidence the model decides on; None when the question was refused before the decision
    (nothing retrieved, another place's rules)."""
    if ctx.status == "refused_other_place":
        return None
    return dict(ctx.evidence) or None


def _threshold(p_by_set: dict[str, list[float]], max_false_refusal: float) -> float:
    """The highest threshold that refuses at most `max_false_refusal` of the answerable questions
    of every dev set (the residents' short questions are not outvoted by the COVID set's)."""
    limits = []
    for probabilities in p_by_set.values():
        ordered = sorted(probabilities)
        limits.append(ordered[int(max_false_refusal * len(ordered))] if ordered else 1.0)
    return min(limits) if limits else 0.5


def train_answerability(rows: list[EvidenceRow], folds: int = 5, max_false_refusal: float = 0.05) -> LinearModel:
    """Logistic over the evidence features; the threshold is the one that, on out-of-fold
    probabilities, refuses at most `max_false_refusal` of the answerable questions."""
    scored = [r for r in rows if r.evidence is not None]
    x = np.array([[r.evidence[name] for name in EVIDENCE_FEATURES] for r in scored])
    y = np.array([r.answerable for r in scored])
    # every source (a dev set, an unanswerable list asked of a corpus) weighs the same in all,
    # answerable and unanswerable the same in all
    sizes: dict[str, int] = {}
    for r in scored:
        sizes[r.source] = sizes.get(r.source, 0) + 1
    per_class = {a: len({r.source for r in scored if r.answerable == a}) for a in (True, False)}
    weights = np.array([1.0 / (sizes[r.source] * per_class[r.answerable]) for r in scored]) * len(scored)
    groups = [r.question for r in scored]
    oof = np.zeros(len(scored))
    for test in _folds(groups, folds):
        train_mask = np.ones(len(scored), dtype=bool)
        train_mask[test] = False
        model = _fit(x[train_mask], y[train_mask], EVIDENCE_FEATURES, c=ANSWERABILITY_C, weights=weights[train_mask])
        for i in test:
            oof[i] = model.probability(scored[i].evidence)
    p_by_set: dict[str, list[float]] = {}
    for r, p in zip(scored, oof):
        if r.answerable:
            p_by_set.setdefault(r.source, []).append(p)
    threshold = _threshold(p_by_set, max_false_refusal)
    by_source: dict[str, dict[str, Any]] = {}
    p_of = {id(r): p for r, p in zip(scored, oof)}
    for r in rows:
        entry = by_source.setdefault(r.source, {"questions": 0, "answered": 0, "answerable": r.answerable})
        entry["questions"] += 1
        entry["answered"] += r.evidence is not None and p_of[id(r)] >= threshold
    report: dict[str, Any] = {"folds": folds, "threshold_rule": f"refuse at most {max_false_refusal:.0%} of the "
                              "answerable questions (out-of-fold)"}
    for source, entry in sorted(by_source.items()):
        n = entry["questions"]
        if entry["answerable"]:
            report[source] = {"questions": n, "false_refusal_rate": round(1 - entry["answered"] / n, 4)}
        else:
            report[source] = {"questions": n, "false_answer_rate": round(entry["answered"] / n, 4)}
    final = _fit(x, y, EVIDENCE_FEATURES, c=ANSWERABILITY_C, weights=weights)
    final.threshold = float(threshold)
    final.version, final.report = _version("answerability"), report
    return final


def collect(sets: list[DevSet], settings, index_dir: Path | None, work: Callable[[Any, DevSet], list],
            progress: Callable[[str], None] = lambda _: None) -> list:
    """Runs `work` over each dev set with services over that set's corpus index."""
    rows: list = []
    for dev in sets:
        services = evaluation_services(dev.corpus, settings, index_dir, progress)
        try:
            progress(f"{dev.name}: {len(dev.questions)} questions")
            rows += work(services, dev)
        finally:
            services.close()
    return rows
