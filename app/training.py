"""Fitting the models the answer path learns, with K-fold cross-validation on the question bank's
train split (tests/data/bank; its test split is never fitted on) and the COVID dev questions: the
document ranker (models/doc_ranker.json), the answer selector (models/answer_selector.json) and the
answerability decision (models/answerability.json). `jingce train selector` first (it decides which
sentences the answerability features are read from), then `jingce train answerability`.

The ranker and the answerability decision are logistic models over features the pipeline already
computes, kept as JSON (app/linear_model.py): the ranker fitted on pairs of candidate documents (gold
against the others), the answerability decision on questions (answerable against not, the bank's near
misses among the nots), each coefficient on the side its feature may push. The selector is LightGBM
lambdarank over candidate sentences. Folds group the rows of one question (of one gold document for the
selector; for the unanswerable lists, the same question asked of both corpora), so no question is
scored by a model that saw it. Reports give cross-validated numbers only.
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
from app.answering.answerability import SIGNS as EVIDENCE_SIGNS
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


def dev_sets(covid_corpus: Path | None, covid_questions: Path | None, bundled: list[Path],
             bank_split: str | None = "train", residents_questions: Path | None = None) -> list[DevSet]:
    """The sets the learned parts are fitted on: the COVID dev questions over their corpus, the
    question bank's train split over the bundled corpus (its test split is never fitted on), and,
    when given, another residents' question file."""
    from app.evaluation import load_bank_questions

    sets = []
    if covid_corpus and covid_questions:
        sets.append(DevSet("covid", covid_corpus, load_eval_questions(covid_questions),
                           SearchFilters(include_not_in_force=True)))
    if bank_split:
        sets.append(DevSet("bank", bundled, load_bank_questions(bank_split), SearchFilters()))
    if residents_questions:
        sets.append(DevSet("residents", bundled, load_eval_questions(residents_questions), SearchFilters()))
    if not sets:
        raise ValueError("no dev questions given")
    return sets


def _fit(x: np.ndarray, y: np.ndarray, features: tuple[str, ...], c: float, weights: np.ndarray,
         signs: dict[str, int] | None = None) -> LinearModel:
    """Weighted, L2-regularised logistic regression on standardised features (C as scikit-learn's);
    `signs` keeps each coefficient on the side it names (+1 ≥ 0, -1 ≤ 0, 0 or absent: free)."""
    from scipy.optimize import minimize

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    target = np.where(y, 1.0, -1.0)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        margin = target * (z @ params[1:] + params[0])
        gradient = -target * weights / (1.0 + np.exp(np.clip(margin, -60, 60)))
        value = float(weights @ np.logaddexp(0.0, -margin) + params[1:] @ params[1:] / (2 * c))
        return value, np.concatenate([[gradient.sum()], z.T @ gradient + params[1:] / c])

    bounds = [(None, None)] + [(0.0, None) if (signs or {}).get(f, 0) > 0 else (None, 0.0)
                               if (signs or {}).get(f, 0) < 0 else (None, None) for f in features]
    fitted = minimize(loss, np.zeros(len(features) + 1), jac=True, method="L-BFGS-B", bounds=bounds).x
    return LinearModel(features, mean.tolist(), scale.tolist(), fitted[1:].tolist(), float(fitted[0]))


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
        if not q.answerable:
            continue
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
    for q in dev.questions:  # a near miss of the question bank is a question the corpus cannot answer
        ctx = ask(services, q.question, q.history, dev.filters, channel="train")
        rows.append(EvidenceRow(dev.name if q.answerable else f"near_miss@{dev.name}", q.question, q.answerable,
                                _decided_by_model(ctx)))
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


def _list_threshold(rows: list[EvidenceRow], p_of: dict[int, float], min_refused: float) -> float:
    """The lowest threshold at which every unanswerable list (not the bank's near misses) is refused at
    least `min_refused` of the time out of fold, counting those refused before the decision."""
    needed = 0.0
    for source in {r.source for r in rows if not r.answerable and not r.source.startswith("near_miss")}:
        of_list = [r for r in rows if r.source == source]
        allowed = int((1 - min_refused) * len(of_list))  # how many of the list may be answered
        answered = sorted((p_of[id(r)] for r in of_list if r.evidence is not None), reverse=True)
        if allowed < len(answered):
            needed = max(needed, answered[allowed] + 1e-6)
    return needed


def train_answerability(rows: list[EvidenceRow], folds: int = 5, max_false_refusal: float = 0.05,
                        min_refused: float = 0.92) -> LinearModel:
    """Logistic over the evidence features; the threshold is the highest that, on out-of-fold
    probabilities, refuses at most `max_false_refusal` of the answerable questions of every dev set —
    raised, if need be, until every unanswerable list is refused at least `min_refused` of the time."""
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
        model = _fit(x[train_mask], y[train_mask], EVIDENCE_FEATURES, c=ANSWERABILITY_C, weights=weights[train_mask],
                     signs=EVIDENCE_SIGNS)
        for i in test:
            oof[i] = model.probability(scored[i].evidence)
    p_by_set: dict[str, list[float]] = {}
    for r, p in zip(scored, oof):
        if r.answerable:
            p_by_set.setdefault(r.source, []).append(p)
    p_of = {id(r): p for r, p in zip(scored, oof)}
    threshold = max(_threshold(p_by_set, max_false_refusal), _list_threshold(rows, p_of, min_refused))
    by_source: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = by_source.setdefault(r.source, {"questions": 0, "answered": 0, "answerable": r.answerable})
        entry["questions"] += 1
        entry["answered"] += r.evidence is not None and p_of[id(r)] >= threshold
    report: dict[str, Any] = {"folds": folds, "threshold_rule": f"refuse at most {max_false_refusal:.0%} of the "
                              f"answerable questions, at least {min_refused:.0%} of each unanswerable list "
                              "(out-of-fold)"}
    for source, entry in sorted(by_source.items()):
        n = entry["questions"]
        if entry["answerable"]:
            report[source] = {"questions": n, "false_refusal_rate": round(1 - entry["answered"] / n, 4)}
        else:
            report[source] = {"questions": n, "false_answer_rate": round(entry["answered"] / n, 4)}
    final = _fit(x, y, EVIDENCE_FEATURES, c=ANSWERABILITY_C, weights=weights, signs=EVIDENCE_SIGNS)
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


# ---- answer selector ----

@dataclass
class SelectorRow:
    dev: str
    qid: str
    group: str  # the gold document: folds keep a document's questions together
    features: np.ndarray  # one row per candidate sentence
    labels: np.ndarray  # 2: the answer, 1: part of it, 0: not it
    hand_top: int  # the candidate the hand-weighted score puts first


def sentence_label(text: str, doc_id: str, q: EvalQuestion) -> int:
    """How well a candidate sentence answers, as the relevance grade the ranker learns: in a gold
    document, 3 when it states every must-contain fact (the COVID set: it is, or holds, the official
    answer span), 1 when it states some of them or is part of the evidence (overlaps the answer span
    by half), else 0."""
    from app.evaluation import normalise
    from app.answering.selector import _longest_shared

    if doc_id not in q.gold_doc_ids:
        return 0
    flat = normalise(text)
    if not flat:
        return 0
    if q.must_contain:
        facts = sum(normalise(m) in flat for m in q.must_contain)
        if facts == len(q.must_contain):
            return 3
        evidence = normalise(q.evidence)
        in_evidence = bool(evidence) and (flat in evidence or _longest_shared(flat, evidence) >= min(12, len(flat) // 2 + 1))
        return 1 if facts or in_evidence else 0
    answer = normalise(q.answer)
    if not answer:
        return 0
    if flat in answer or answer in flat:
        return 3
    return 1 if _longest_shared(flat, answer) >= 0.5 * min(len(flat), len(answer)) else 0


def selector_rows(services, dev: DevSet) -> list[SelectorRow]:
    """For each answerable question, the candidate sentences of the sources the answer pipeline
    retrieves (rewriting follow-ups as it does), their features and labels. Questions whose sources
    hold no sentence of the answer teach nothing about choosing and are left out."""
    from app.answering.selector import FEATURES

    steps = [s for s in services.pipeline.steps if s.name in ("check_question", "rewrite_question", "read_question",
                                                                 "retrieve")]
    composer = next(s.composer for s in services.pipeline.steps if s.name == "extract_answer")
    rows = []
    for q in dev.questions:
        if not q.answerable:
            continue
        ctx = ask(services, q.question, q.history, dev.filters, channel="train", run=lambda c: _prepared(steps, c))
        if ctx.stopped or not ctx.sources or not ctx.terms:
            continue
        scored, matrix = composer.features(ctx.search_question, ctx.sources, ctx.terms, ctx.kinds)
        labels = np.array([sentence_label(c.text, ctx.sources[c.rank].doc_id, q) for c in scored.sentences])
        if not len(labels) or labels.max() == 0:
            continue
        hand_top = int(np.argmax(matrix[:, FEATURES.index("hand")]))  # the first of equals, as the composer takes it
        rows.append(SelectorRow(dev.name, q.qid, q.gold_doc_ids[0], matrix, labels, hand_top))
    return rows


# small trees, slow learning: 400-odd questions per set (compared on the bank's folds: 7 leaves at 0.02 for 500
# rounds put the answer first a point or two more often than 15 or 31 leaves, or fewer rounds)
SELECTOR_PARAMS = {"objective": "lambdarank", "learning_rate": 0.02, "num_leaves": 7, "min_data_in_leaf": 20,
                   "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
                   "lambdarank_truncation_level": 20, "verbose": -1, "num_threads": 2, "seed": 7,
                   "deterministic": True, "force_row_wise": True}
SELECTOR_ROUNDS = 500


def _fit_selector(rows: list[SelectorRow], columns: list[int]):
    import lightgbm

    x = np.vstack([row.features[:, columns] for row in rows])
    y = np.concatenate([row.labels for row in rows])
    # every dev set weighs the same in all, however many questions it has
    sizes = {dev: sum(1 for row in rows if row.dev == dev) for dev in {row.dev for row in rows}}
    weights = np.concatenate([np.full(len(row.labels), len(rows) / (len(sizes) * sizes[row.dev])) for row in rows])
    data = lightgbm.Dataset(x, y, group=[len(row.labels) for row in rows], weight=weights, free_raw_data=True)
    return lightgbm.train(SELECTOR_PARAMS, data, num_boost_round=SELECTOR_ROUNDS)


def _top_metrics(rows: list[SelectorRow], tops: list[int]) -> dict[str, float]:
    n = max(len(rows), 1)
    return {"top_holds_the_answer": round(sum(row.labels[t] == 3 for row, t in zip(rows, tops)) / n, 4),
            "top_holds_part": round(sum(row.labels[t] >= 1 for row, t in zip(rows, tops)) / n, 4)}


def _cross_validated_tops(rows: list[SelectorRow], columns: list[int], folds: int) -> list[int]:
    tops = [0] * len(rows)
    for test in _folds([row.group for row in rows], folds):
        test_set = set(test.tolist())
        booster = _fit_selector([row for i, row in enumerate(rows) if i not in test_set], columns)
        for i in test_set:
            scores = booster.predict(rows[i].features[:, columns], num_threads=1)
            tops[i] = int(np.argmax(scores))
    return tops


def train_selector(rows: list[SelectorRow], folds: int = 5, ablation: bool = True,
                   progress: Callable[[str], None] = lambda _: None):
    """LightGBM lambdarank over the candidate sentences; cross-validated by document (no document's
    questions both train and score a fold), per dev set beside the hand-weighted score; with
    `ablation`, each feature group left out in turn and the folds fitted again."""
    from app.answering.selector import FEATURE_GROUPS, FEATURES, SentenceSelector

    everything = list(range(len(FEATURES)))
    devs = sorted({row.dev for row in rows})

    def by_dev(tops: list[int]) -> dict[str, dict[str, float]]:
        return {dev: _top_metrics([r for r in rows if r.dev == dev], [t for r, t in zip(rows, tops) if r.dev == dev])
                for dev in devs}

    progress(f"selector: {len(rows)} questions, {sum(len(r.labels) for r in rows)} candidates, {folds} folds")
    report: dict[str, Any] = {"folds": folds, "grouped_by": "gold document", "rounds": SELECTOR_ROUNDS,
                              "questions": {dev: sum(1 for r in rows if r.dev == dev) for dev in devs},
                              "hand_weighted": by_dev([r.hand_top for r in rows]),
                              "selector_cv": by_dev(_cross_validated_tops(rows, everything, folds))}
    if ablation:
        report["without_group"] = {}
        for group, names in FEATURE_GROUPS.items():
            progress(f"selector: without {group}")
            kept = [i for i, name in enumerate(FEATURES) if name not in names]
            report["without_group"][group] = by_dev(_cross_validated_tops(rows, kept, folds))
    booster = _fit_selector(rows, everything)
    return SentenceSelector(booster, FEATURES, _version("answer_selector"), report)
