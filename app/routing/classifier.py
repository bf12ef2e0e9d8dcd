"""The level-1 category of a ticket: a classifier trained on labelled tickets, with the complaint
taxonomy as prior knowledge.

Signals (measured with 5-fold cross-validation on the 356 labelled dev messages; see docs/adr/0006):
- e5 embeddings of the ticket (title + body) and of its title;
- how close the ticket is to each category's taxonomy leaves ("城乡建设 › 城市建设和市政管理 ›
  公共汽车"): the best cosine per category, centred across categories — the taxonomy says that bus
  complaints are 城乡建设 here, which no amount of general language knowledge guesses;
- character n-gram TF-IDF with a linear SVM, trained on the tickets plus one pseudo-ticket per
  taxonomy subtree, for the words the embedding model does not know.
Logistic regression over the first two, averaged with the SVM's softmaxed margins.

`needs_review` comes from a confidence threshold calibrated by cross-validation on the training
tickets: the lowest confidence at which the out-of-fold accuracy of the tickets above it reaches
the target (0.95 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from app.clients.embeddings import ArrayEmbeddings
from app.routing.catalogue import Taxonomy


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


@dataclass
class Ticket:
    title: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.title}。{self.body}" if self.title else self.body

    @property
    def said(self) -> str:
        """The ticket as its caller said it (shown to agents): the title once, not again before its body
        when it is the body's own first sentence (Ticket.of)."""
        return self.body if self.body.startswith(self.title) else self.text

    @classmethod
    def of(cls, text: str) -> "Ticket":
        """A ticket typed as one text: its first sentence (up to 40 characters) stands for the title."""
        text = text.strip()
        cut = min([i for i in (text.find(c) for c in "。！？!?\n") if i > 0] + [40])
        return cls(text[:cut], text)


@dataclass
class Features:
    passages: np.ndarray  # (n, dim): e5 passage embedding of the ticket (its first BODY_CHARS characters)
    titles: np.ndarray  # (n, dim): e5 query embedding of its title
    leaf: np.ndarray  # (n, n_taxonomy_level1): best cosine to each level-1 category's leaves
    texts: list[str]  # for the TF-IDF model (title twice: it is the densest part)

    @property
    def dense(self) -> np.ndarray:
        return np.hstack([self.passages, self.titles])

    def __getitem__(self, rows) -> "Features":
        rows = np.asarray(rows)
        return Features(self.passages[rows], self.titles[rows], self.leaf[rows], [self.texts[i] for i in rows])

    def __len__(self) -> int:
        return len(self.texts)


class Featurizer:
    """Turns tickets into features; the taxonomy's leaves are embedded once."""

    BODY_CHARS = 300  # e5-small reads ~512 tokens; the first 300 characters hold the complaint

    def __init__(self, embedder: ArrayEmbeddings, taxonomy: Taxonomy, leaf_vectors: np.ndarray | None = None) -> None:
        """`leaf_vectors`: the leaves' embeddings when known (a trained model carries them), else embedded."""
        self.embedder, self.taxonomy = embedder, taxonomy
        leaves = taxonomy.leaves
        self.level1 = sorted(taxonomy.tree)
        self._leaf_owner = np.array([self.level1.index(a) for a, _, _ in leaves], dtype=int)
        self._leaves = leaves
        if leaf_vectors is None:
            leaf_vectors = (np.asarray(embedder.passages([f"{b}：{c}" for _, b, c in leaves]))
                            if leaves else np.zeros((0, embedder.dim or 1), dtype=np.float32))
        if len(leaf_vectors) != len(leaves):
            raise ValueError(f"{len(leaf_vectors)} leaf vectors for {len(leaves)} taxonomy leaves")
        self.leaf_vectors = leaf_vectors

    def passage_vectors(self, tickets: list[Ticket], progress: Progress | None = None) -> np.ndarray:
        """What a ticket is compared with other tickets and with department profiles by."""
        texts = [t.text[:self.BODY_CHARS] for t in tickets]
        if progress is None:
            return np.asarray(self.embedder.passages(texts))
        progress.start(len(texts))
        parts = []
        for start in range(0, len(texts), 32):
            parts.append(np.asarray(self.embedder.passages(texts[start:start + 32])))
            progress.advance(len(parts[-1]))
        return np.vstack(parts) if parts else np.zeros((0, self.embedder.dim), dtype=np.float32)

    def __call__(self, tickets: list[Ticket], progress: Progress | None = None) -> Features:
        passages = self.passage_vectors(tickets, progress)
        titles = np.asarray([self.embedder.query_vector(t.title or t.body[:40]) for t in tickets])
        leaf = np.zeros((len(tickets), len(self.level1)))
        if len(self._leaves):
            for vectors in (titles, passages):
                sims = vectors @ self.leaf_vectors.T
                leaf += np.stack([sims[:, self._leaf_owner == k].max(1) for k in range(len(self.level1))], 1)
        return Features(passages, titles, leaf, [f"{t.title}。{t.title}。{t.body}" for t in tickets])

    def nearest_leaf(self, ticket_vector: np.ndarray, level1: str) -> tuple[str, str, float] | None:
        """(level 2, level 3, cosine) of the closest leaf under a level-1 category."""
        if level1 not in self.level1:
            return None
        mask = self._leaf_owner == self.level1.index(level1)
        sims = self.leaf_vectors[mask] @ ticket_vector
        best = int(np.argmax(sims))
        _, b, c = [leaf for leaf, m in zip(self._leaves, mask) if m][best]
        return b, c, float(sims[best])

    def pseudo_tickets(self, classes: list[str]) -> tuple[list[str], list[str]]:
        """One text per taxonomy subtree of the given classes: "level 2。level 3，level 3，…"."""
        texts, labels = [], []
        for a in classes:
            for b, cs in self.taxonomy.tree.get(a, {}).items():
                texts.append(f"{b}。{'，'.join(cs)}")
                labels.append(a)
        return texts, labels


class CategoryModel:
    TFIDF = {"analyzer": "char", "ngram_range": (1, 3), "sublinear_tf": True}

    def __init__(self, featurizer: Featurizer, tfidf_weight: float = 0.25, leaf_scale: float = 10.0,
                 c_logistic: float = 10.0, c_svm: float = 3.0) -> None:
        self.featurizer = featurizer
        self.tfidf_weight, self.leaf_scale = tfidf_weight, leaf_scale
        self.c_logistic, self.c_svm = c_logistic, c_svm
        self.classes: list[str] = []
        self.threshold = 1.0

    def _dense(self, features: Features) -> np.ndarray:
        columns = [self.featurizer.level1.index(c) for c in self.classes if c in self.featurizer.level1]
        leaf = features.leaf[:, columns] if columns else np.zeros((len(features), 0))
        if leaf.shape[1]:
            leaf = leaf - leaf.mean(1, keepdims=True)  # which category is closer, not how close all are
        return np.hstack([features.dense, self.leaf_scale * leaf])

    def fit(self, features: Features, labels: list[str]) -> "CategoryModel":
        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise ValueError("training needs at least two categories")
        y = np.array(labels)
        self._logistic = LogisticRegression(C=self.c_logistic, max_iter=3000).fit(self._dense(features), y)
        extra_texts, extra_labels = self.featurizer.pseudo_tickets(self.classes)
        self._tfidf = TfidfVectorizer(**self.TFIDF)
        matrix = self._tfidf.fit_transform(features.texts + extra_texts)
        self._svm = LinearSVC(C=self.c_svm).fit(matrix, list(y) + extra_labels)
        return self

    @property
    def options(self) -> dict[str, float]:
        return {"tfidf_weight": self.tfidf_weight, "leaf_scale": self.leaf_scale, "c_logistic": self.c_logistic,
                "c_svm": self.c_svm}

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (numbers and strings: loadable without pickle)."""
        vocabulary = sorted(self._tfidf.vocabulary_, key=self._tfidf.vocabulary_.get)
        return {"classes": np.array(self.classes), "threshold": np.array(self.threshold),
                "logistic_coef": self._logistic.coef_, "logistic_intercept": self._logistic.intercept_,
                "logistic_classes": np.array(self._logistic.classes_, dtype=str),
                "tfidf_vocabulary": np.array(vocabulary), "tfidf_idf": self._tfidf.idf_,
                "svm_coef": self._svm.coef_, "svm_intercept": self._svm.intercept_,
                "svm_classes": np.array(self._svm.classes_, dtype=str)}

    @classmethod
    def from_arrays(cls, featurizer: Featurizer, arrays: dict[str, np.ndarray],
                    options: dict[str, float]) -> "CategoryModel":
        """The model `arrays()` wrote, predicting exactly as it did (tests/test_routing_model.py)."""
        model = cls(featurizer, **options)
        model.classes = [str(c) for c in arrays["classes"]]
        model.threshold = float(arrays["threshold"])
        model._logistic = _fitted(LogisticRegression(C=model.c_logistic), arrays, "logistic")
        model._svm = _fitted(LinearSVC(C=model.c_svm), arrays, "svm")
        vocabulary = {str(term): index for index, term in enumerate(arrays["tfidf_vocabulary"])}
        model._tfidf = TfidfVectorizer(**cls.TFIDF, vocabulary=vocabulary)
        model._tfidf.idf_ = arrays["tfidf_idf"]
        return model

    def predict_proba(self, features: Features) -> np.ndarray:
        p_dense = self._logistic.predict_proba(self._dense(features))
        margins = self._svm.decision_function(self._tfidf.transform(features.texts))
        if margins.ndim == 1:  # two classes: one margin
            margins = np.stack([-margins, margins], 1)
        p_tfidf = _softmax(3.0 * margins)
        order = [list(self._svm.classes_).index(c) for c in self.classes]
        return (1 - self.tfidf_weight) * p_dense + self.tfidf_weight * p_tfidf[:, order]

    def calibrate(self, features: Features, labels: list[str], target: float, folds: int = 5,
                  seed: int = 0, groups: dict[str, str] | None = None) -> float:
        """Sets (and returns) the review threshold from out-of-fold predictions on the training set.
        With `groups` (class → what it decides, e.g. the category's lead rule), what must be right is
        the group, and the confidence is the probability of the predicted group's classes together."""
        y = np.array(labels)
        k = min(folds, min(np.unique(y, return_counts=True)[1]))
        if k < 2:
            self.threshold = 1.0
            return self.threshold
        proba = np.zeros((len(y), len(self.classes)))
        for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y):
            inner = CategoryModel(self.featurizer, self.tfidf_weight, self.leaf_scale, self.c_logistic, self.c_svm)
            inner.fit(features[train], list(y[train]))
            proba[np.ix_(test, [self.classes.index(c) for c in inner.classes])] = inner.predict_proba(features[test])
        if groups:
            confidence, predicted = group_confidence(proba, self.classes, groups)
            correct = predicted == np.array([groups[label] for label in y])
        else:
            confidence, correct = proba.max(1), np.array(self.classes)[proba.argmax(1)] == y
        self.threshold = review_threshold(confidence, correct, target)
        return self.threshold


def group_confidence(proba: np.ndarray, classes: list[str], groups: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """For each row: the probability of the most probable group (its classes summed) and the group."""
    names = sorted(set(groups[c] for c in classes))
    mass = np.stack([proba[:, [i for i, c in enumerate(classes) if groups[c] == g]].sum(1) for g in names], 1)
    return mass.max(1), np.array(names)[mass.argmax(1)]


def review_threshold(confidence: np.ndarray, correct: np.ndarray, target: float, z: float = 1.645) -> float:
    """The lowest confidence t such that predictions with confidence ≥ t are right at least `target`
    of the time — judged by the Wilson lower bound at z (1.645: 95 % one-sided), since a few hundred
    out-of-fold predictions estimate that accuracy only roughly. 1.0 (review everything) when no t
    reaches it."""
    order = np.argsort(-confidence)
    n = np.arange(1, len(order) + 1)
    p = np.cumsum(correct[order]) / n
    lower = (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    ok = np.where(lower >= target)[0]
    if not len(ok):
        return 1.0
    # the deepest prefix that still meets the target; its last confidence is the threshold
    return float(confidence[order][ok.max()])


def _fitted(estimator, arrays: dict[str, np.ndarray], prefix: str):
    """A linear scikit-learn estimator given the coefficients it was fitted to."""
    estimator.coef_ = arrays[f"{prefix}_coef"]
    estimator.intercept_ = arrays[f"{prefix}_intercept"]
    estimator.classes_ = arrays[f"{prefix}_classes"].astype(object)
    estimator.n_features_in_ = estimator.coef_.shape[1]
    return estimator


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)
