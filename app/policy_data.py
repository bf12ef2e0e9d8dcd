"""Rules kept as data in policies/: answer statuses with their canned replies, guardrail patterns.

One accessor per kind; a missing file or key fails loudly at start-up rather than at the first
question that needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.config import REPO_ROOT

POLICIES = REPO_ROOT / "policies"


@dataclass(frozen=True)
class AnswerStatus:
    name: str
    refusal: bool
    description: str
    reply: str | None


@lru_cache(maxsize=1)
def answer_statuses() -> dict[str, AnswerStatus]:
    data = yaml.safe_load((POLICIES / "answer_statuses.yml").read_text(encoding="utf-8"))
    statuses = {}
    for name, item in data.items():
        if item.get("refusal") and not item.get("reply"):
            raise ValueError(f"policies/answer_statuses.yml: refusal status '{name}' has no reply")
        statuses[name] = AnswerStatus(name, bool(item["refusal"]), item["description"], item.get("reply"))
    return statuses


def status(name: str) -> AnswerStatus:
    try:
        return answer_statuses()[name]
    except KeyError:
        raise KeyError(f"answer status '{name}' is not listed in policies/answer_statuses.yml") from None


@lru_cache(maxsize=None)
def guardrail_patterns(name: str) -> list[re.Pattern[str]]:
    path = POLICIES / "guardrails" / f"{name}.txt"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [re.compile(line, re.IGNORECASE) for line in lines if line and not line.startswith("#")]


def matching_guardrail(name: str, text: str) -> str | None:
    """The first pattern of the list that the text matches (kept in the audit event), or None."""
    for pattern in guardrail_patterns(name):
        if pattern.search(text):
            return pattern.pattern
    return None


ANSWER_FORMS = ("sentence", "list", "clause")


@dataclass(frozen=True)
class QuestionKind:
    name: str
    description: str
    asks: tuple[re.Pattern[str], ...]
    answers: tuple[re.Pattern[str], ...]
    search_words: tuple[str, ...] = ()  # words answers of this kind carry, added to the search at a low weight
    answer_form: str = "clause"  # sentence: the sentence that holds the fact; list: the list; clause: the clause
    label: str = ""  # what it asks for, in Chinese (the LLM prompt names it)

    def asked_by(self, question: str) -> bool:
        return any(p.search(question) for p in self.asks)

    def answered_by(self, sentence: str) -> float:
        """1 when the sentence shows the strong sign of this kind's answer (the first pattern), a
        half for a weaker sign, else 0."""
        for index, pattern in enumerate(self.answers):
            if pattern.search(sentence):
                return 1.0 if index == 0 else 0.5
        return 0.0


@lru_cache(maxsize=1)
def question_kinds() -> dict[str, QuestionKind]:
    """policies/question_kinds.yml: what a question asks for and what an answering sentence looks like."""
    data = yaml.safe_load((POLICIES / "question_kinds.yml").read_text(encoding="utf-8"))
    kinds = {}
    for name, item in data.items():
        try:
            form = item.get("answer", "clause")
            if form not in ANSWER_FORMS:
                raise ValueError(f"answer must be one of {', '.join(ANSWER_FORMS)}, not '{form}'")
            unknown = set(item) - {"description", "label", "asks", "answers", "search", "answer"}
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
            kinds[name] = QuestionKind(name, item["description"], tuple(map(re.compile, item["asks"])),
                                       tuple(map(re.compile, item["answers"])), tuple(item.get("search") or ()), form,
                                       item["label"])
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise ValueError(f"policies/question_kinds.yml: kind '{name}': {exc}") from exc
    return kinds


def kinds_asked(question: str) -> list[str]:
    """The kinds a question asks for, in the file's order (the first is its main kind)."""
    return [name for name, kind in question_kinds().items() if kind.asked_by(question)]


def kind_search_words(kinds: list[str]) -> list[str]:
    """The words answers to these kinds of question carry, for the search ("提交", "原件" for materials)."""
    known = question_kinds()
    return list(dict.fromkeys(w for k in kinds if k in known for w in known[k].search_words))


@lru_cache(maxsize=1)
def hotline_departments() -> list[dict[str, Any]]:
    """The handlers of policies/hotline/departments.yml as written: the routing catalogue builds its
    departments from them, knowledge entries name their body by them."""
    data = yaml.safe_load((POLICIES / "hotline" / "departments.yml").read_text(encoding="utf-8"))
    return list(data["departments"])


@lru_cache(maxsize=None)
def word_list(path: str) -> frozenset[str]:
    """A one-word-per-line list (# starts a comment), e.g. policies/dictionaries/intent_words.txt."""
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line)
