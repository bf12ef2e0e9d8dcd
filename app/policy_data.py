"""Rules kept as data in policies/: answer statuses with their canned replies, guardrail patterns.

One accessor per kind; a missing file or key fails loudly at start-up rather than at the first
question that needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
