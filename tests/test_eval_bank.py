"""Answer quality on the project's question bank (tests/data/bank) through the real command, train and
test side by side. The test split is about documents nothing was fitted on; its floors are what this
version measures there less a small margin, so a change that lowers them fails. Where the issue's bar
is not met the floor says so (docs/adr/0011): it pins today's number, it does not claim the bar."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import clean_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank():
    done = subprocess.run([sys.executable, "-m", "app.cli", "eval", "answers", "--split", "all", "--json"],
                          env=clean_env(), capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_bank_reports_both_splits_and_the_near_misses(bank):
    assert bank["split"] == "all" and set(bank["by_split"]) == {"train", "test"}
    assert bank["questions"] >= 500 and bank["near_miss"]["questions"] >= 100
    for split in bank["by_split"].values():
        assert {"correct", "answered", "near_miss", "by_kind", "latency_ms"} <= set(split)
        assert split["sentence_support"] == 1.0, "every quoted sentence is in its cited source"


def test_the_test_split_holds_its_floors(bank):
    test, train = bank["by_split"]["test"], bank["by_split"]["train"]
    assert test["correct"] >= FLOORS["test_correct"]
    assert test["answered"] >= FLOORS["test_answered"]
    assert test["near_miss"]["false_answer_rate"] <= FLOORS["test_near_miss_false"]
    assert train["correct"] - test["correct"] <= FLOORS["train_test_gap"], "fitted on train, not learned by heart"
    assert test["by_kind"]["superseded"] >= FLOORS["test_superseded"], "the current figure, not an amended one"


# measured (jingce eval answers --split all, this version): test correct 0.651, answered 0.872, near misses
# answered 0.600, train 0.664; superseded 0.71. The issue asks 0.80 / 0.95 / 0.05 and a gap ≤ 0.05 —
# only the gap is met (docs/adr/0011).
FLOORS = {"test_correct": 0.60, "test_answered": 0.83, "test_near_miss_false": 0.68, "train_test_gap": 0.06,
          "test_superseded": 0.65}
