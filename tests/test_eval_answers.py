"""Answer quality of the extractive composer on the COVID policy questions, pinned so that a
change that lowers it fails. Answer recall is held to the issue's target (0.80; this version
measures 0.802). Citation precision is not at the target (0.95): its floor is what this version
measures (0.897), less a margin; see docs/adr/0004 for why."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED, requires_shared

CORPUS = SHARED / "ncp-policy-qa" / "documents.jsonl"
QUESTIONS = SHARED / "ncp-policy-qa" / "questions.dev.jsonl"

pytestmark = [pytest.mark.slow, requires_shared(CORPUS)]


@pytest.fixture(scope="module")
def result():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RETRIEVAL_", "SPARSE_", "INGEST_", "ANSWER_", "LLM_"))}
    done = subprocess.run([sys.executable, "-m", "app.cli", "eval", "answers", "--corpus", str(CORPUS),
                           "--questions", str(QUESTIONS), "--unanswerable", str(REPO / "tests" / "data" / "unanswerable.txt"),
                           "--json"], env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_json_has_exactly_the_agreed_keys(result):
    assert set(result) == {"questions", "answer_recall", "citation_precision", "sentence_support", "refusal_rate",
                           "unanswerable_refusal_rate", "latency_ms"}
    assert set(result["latency_ms"]) == {"p50", "p95"} and result["questions"] == 772


def test_extractive_sentences_are_supported_by_construction(result):
    assert result["sentence_support"] == 1.0


def test_refusals(result):
    assert result["refusal_rate"] <= 0.05, "no more than 5% of answerable questions refused"
    assert result["unanswerable_refusal_rate"] >= 0.95


def test_quality_floors(result):
    assert result["answer_recall"] >= 0.80
    assert result["citation_precision"] >= 0.89

