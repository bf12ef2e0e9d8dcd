"""Answer quality pinned, so that a change that lowers it fails: the COVID policy questions
(answer recall, citation precision) and the questions Beijing residents ask about the bundled
corpus (correct, answered, by kind, answer length), each through the real command.

Floors are what this version measures less a small margin, and the issue's bar where it is met.
Since issue 21 the learned parts are fitted on the project's question bank (tests/data/bank,
tests/test_eval_bank.py), not on the shared dev file, whose 60 questions the earlier hand rules had been
tuned on: there it now measures correct 0.800 (0.883 before; 0.85 asked — not met, docs/adr/0011),
answered 0.900, cites a gold document 0.883, follow-ups 0.60, median 207 characters, the out-of-scope list
0.92, tests/data/unanswerable.txt refused entirely. COVID: answer recall 0.795 (up from 0.773), citation
precision 0.875 (0.883 before; 0.88 asked — not met by 0.005), out-of-scope 0.90."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED, requires_shared, clean_env

CORPUS = SHARED / "ncp-policy-qa" / "documents.jsonl"
QUESTIONS = SHARED / "ncp-policy-qa" / "questions.dev.jsonl"
RESIDENTS = SHARED / "beijing-qa" / "questions.dev.jsonl"
UNANSWERABLE = [REPO / "tests" / "data" / "unanswerable.txt", REPO / "tests" / "data" / "out_of_scope.txt"]

pytestmark = [pytest.mark.slow, requires_shared(CORPUS), requires_shared(RESIDENTS)]


def _eval(*args: str) -> dict:
    env = clean_env()
    unanswerable = [a for path in UNANSWERABLE for a in ("--unanswerable", str(path))]
    done = subprocess.run([sys.executable, "-m", "app.cli", "eval", "answers", *args, *unanswerable, "--json"],
                          env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def covid():
    return _eval("--corpus", str(CORPUS), "--questions", str(QUESTIONS))


@pytest.fixture(scope="module")
def residents():
    return _eval("--questions", str(RESIDENTS))


def test_covid_json_has_exactly_the_agreed_keys(covid):
    assert set(covid) == {"questions", "answer_recall", "citation_precision", "sentence_support", "refusal_rate",
                          "unanswerable_refusal_rate", "unanswerable_by_file", "latency_ms"}
    assert set(covid["latency_ms"]) == {"p50", "p95"} and covid["questions"] == 772


def test_covid_sentences_are_supported_by_construction(covid):
    assert covid["sentence_support"] == 1.0


def test_covid_refusals(covid):
    assert covid["refusal_rate"] <= 0.05, "no more than 5% of answerable questions refused"
    assert covid["unanswerable_by_file"]["unanswerable.txt"] >= 0.95
    assert covid["unanswerable_by_file"]["out_of_scope.txt"] >= 0.88


def test_covid_quality_floors(covid):
    assert covid["answer_recall"] >= 0.77, "not below what the hand-tuned composer had"
    assert covid["citation_precision"] >= 0.87


def test_residents_json_has_exactly_the_agreed_keys(residents):
    assert set(residents) == {"questions", "correct", "answered", "cites_gold_doc", "first_citation_gold",
                              "has_facts", "by_kind", "median_answer_chars", "latency_ms",
                              "unanswerable_refusal_rate", "unanswerable_by_file"}
    assert residents["questions"] == 60 and {"superseded", "followup", "amount"} <= set(residents["by_kind"])


def test_residents_are_answered_shortly_and_rightly(residents):
    assert residents["answered"] >= 0.85, "false refusals at most 15%"
    assert residents["median_answer_chars"] <= 240
    assert residents["correct"] >= 0.75
    assert residents["cites_gold_doc"] >= 0.85
    assert residents["by_kind"]["superseded"] >= 0.85, "the current figure, not an amended one"
    assert residents["by_kind"]["followup"] >= 0.60
    assert residents["unanswerable_by_file"]["unanswerable.txt"] >= 0.95
    assert residents["unanswerable_by_file"]["out_of_scope.txt"] >= 0.90
