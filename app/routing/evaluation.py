"""`jingce eval routing`: level-1 category accuracy of the router's classifier on labelled messages
(the shared format: 留言主题, 留言详情, 一级分类), held-out or K-fold cross-validated, with the share
of tickets sent to review and the accuracy of those that are not.

The project's own tickets (policies/hotline/tickets/*.jsonl: text, address, category [level 1,
level 2], lead, co, district, street_code, community_code) are read by `load_tickets`; each has a
fixed split (`ticket_split`: a salted hash of its id, one in four held out) and is scored end to end
— lead handler, street, category — by app/routing/ticket_eval.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from app.jsonl import jsonl_records
from app.routing.categories import SEPARATOR
from app.routing.classifier import CategoryModel, Featurizer, Ticket

FIELDS = ("留言主题", "留言详情", "一级分类")
TICKET_FIELDS = ("id", "text", "category", "lead")
SPLIT_SALT = "tickets-0:"  # fixed before any weight or threshold was fitted on the tickets


@dataclass(frozen=True)
class LabelledTicket:
    id: str
    text: str
    address: str | None
    label: str  # "level 1/level 2"
    lead: str  # street:<code> | district:<区> | a department id
    co: tuple[str, ...]
    district: str | None
    street_code: str | None

    @property
    def ticket(self) -> Ticket:
        return Ticket.of(self.text)

    @property
    def split(self) -> str:
        return ticket_split(self.id)


def ticket_split(ticket_id: str) -> str:
    return "test" if hashlib.sha256((SPLIT_SALT + ticket_id).encode()).digest()[0] % 4 == 0 else "train"


def is_ticket_file(path: Path) -> bool:
    """The project's ticket format (a folder of them, or a file whose first record has `category`)."""
    if path.is_dir():
        return True
    for _, record in jsonl_records(path, ()):
        return "category" in record
    return False


def load_tickets(path: Path) -> list[LabelledTicket]:
    """Every ticket of a file or of a folder's *.jsonl files (sorted by name); ids must be unique."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    out: list[LabelledTicket] = []
    seen: set[str] = set()
    for file in files:
        for number, record in jsonl_records(file, TICKET_FIELDS):
            category = record["category"]
            if not (isinstance(category, list) and len(category) == 2 and all(category)):
                raise ValueError(f"{file}:{number}: category must be [level 1, level 2]")
            if record["id"] in seen:
                raise ValueError(f"{file}:{number}: duplicate id {record['id']}")
            seen.add(record["id"])
            out.append(LabelledTicket(str(record["id"]), str(record["text"]).strip(), record.get("address") or None,
                                      SEPARATOR.join(category), str(record["lead"]), tuple(record.get("co") or ()),
                                      record.get("district") or None, record.get("street_code") or None))
    if not out:
        raise ValueError(f"{path}: no tickets")
    return out


def load_messages(path: Path) -> tuple[list[Ticket], list[str]]:
    tickets, labels = [], []
    for number, record in jsonl_records(path, FIELDS):
        values = [str(record[f] or "").strip() for f in FIELDS]
        empty = [f for f, v in zip(FIELDS, values) if not v]
        if empty:
            raise ValueError(f"{path}:{number}: missing field(s) {', '.join(empty)}")
        tickets.append(Ticket(values[0], values[1]))
        labels.append(values[2])
    if not tickets:
        raise ValueError(f"{path}: no messages")
    return tickets, labels


def _report(y: np.ndarray, pred: np.ndarray, confidence: np.ndarray, threshold: np.ndarray,
            classes: list[str]) -> dict[str, Any]:
    reviewed = confidence < threshold
    kept = ~reviewed
    p, r, f, support = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {
        "messages": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)),
        "review_share": float(reviewed.mean()),
        "accuracy_not_reviewed": float((pred[kept] == y[kept]).mean()) if kept.any() else None,
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                      for i, c in enumerate(classes)},
        "confusion": {"labels": classes, "matrix": confusion_matrix(y, pred, labels=classes).tolist()},
    }


def run_routing_eval(featurizer: Featurizer, train: Path, messages: Path | None, cv: int | None,
                     target: float, model_options: dict[str, Any] | None = None,
                     progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    options = model_options or {}
    tickets, labels = load_messages(train)
    progress(f"embedding {len(tickets)} training messages (cached by content)")
    features = featurizer(tickets)
    y = np.array(labels)
    if cv:
        classes = sorted(set(labels))
        pred = np.empty(len(y), dtype=object)
        confidence, threshold = np.zeros(len(y)), np.zeros(len(y))
        for fold, (tr, te) in enumerate(StratifiedKFold(cv, shuffle=True, random_state=0).split(y, y), start=1):
            progress(f"fold {fold}/{cv}")
            model = CategoryModel(featurizer, **options).fit(features[tr], list(y[tr]))
            # the review threshold is calibrated inside the training folds only
            threshold[te] = model.calibrate(features[tr], list(y[tr]), target)
            proba = model.predict_proba(features[te])
            pred[te] = np.array(model.classes)[proba.argmax(1)]
            confidence[te] = proba.max(1)
        result = _report(y, pred.astype(str), confidence, threshold, classes)
        result["mode"] = f"{cv}-fold cross-validation on {train.name}"
        return result
    if messages is None:
        raise ValueError("give --messages FILE, or --cv K to cross-validate on the training file")
    model = CategoryModel(featurizer, **options).fit(features, labels)
    model.calibrate(features, labels, target)
    test_tickets, test_labels = load_messages(messages)
    proba = model.predict_proba(featurizer(test_tickets))
    pred = np.array(model.classes)[proba.argmax(1)]
    result = _report(np.array(test_labels), pred, proba.max(1), np.full(len(pred), model.threshold), model.classes)
    result["mode"] = f"trained on {train.name}, tested on {messages.name}"
    return result
