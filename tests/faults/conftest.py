"""Fault tests run against real processes they start and break: `jingce serve`, redis-server,
PostgreSQL, `jingce ingest`. Runnable alone: `pytest tests/faults`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import beijing_corpus, clean_env


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory):
    """A data folder with a few Beijing documents ingested (by a `jingce ingest` process)."""
    root = tmp_path_factory.mktemp("faults")
    corpus = beijing_corpus(root / "corpus", ("bj-2024-minimum-living-allowance.txt", "bj-2019-elderly-subsidy.txt",
                                              "bj-2020-market-rental-subsidy.txt"))
    data = root / "data"
    subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(corpus)], env=clean_env(JINGCE_DATA_DIR=str(data)),
                   check=True, capture_output=True, timeout=600)
    return data


def copy_of(data, tmp_path):
    """A private copy of an ingested data folder (an embedded store admits one process)."""
    target = tmp_path / "data"
    shutil.copytree(data, target)
    return target
