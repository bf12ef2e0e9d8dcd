"""`kill -9` of `jingce ingest` at random moments (several seeds): running the same command again ends
with exactly the index an uninterrupted run builds — the same points, payloads and vectors."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import BUNDLED, SMALL_CORPUS, beijing_corpus, clean_env
from tests.index_snapshot import differences, snapshot

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return beijing_corpus(tmp_path_factory.mktemp("kill") / "corpus")


def _env(root):
    # the server adapter on a folder: its snapshot holds the vectors too; small batches: many write points
    return clean_env(JINGCE_DATA_DIR=str(root), QDRANT_LOCAL_PATH=str(root / "store"), INGEST_BATCH_CHUNKS="4")


def _settings(root):
    from app.config import Settings

    return Settings(data_dir=root, qdrant={"local_path": str(root / "store")})


def _run(env, corpus) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(corpus), "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.monotonic() - started


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    seconds = _run(_env(root), corpus)  # also warms the embedding cache the killed runs share
    return snapshot(_settings(root)), seconds


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_rerun_after_kill_9_builds_the_uninterrupted_index(corpus, reference, tmp_path, seed):
    expected, seconds = reference
    env = _env(tmp_path)
    if seed > 2:  # also a kill while an earlier version of every document is being replaced
        _run(env, corpus)
        for path in corpus.glob("*.txt"):
            path.write_text(path.read_text(encoding="utf-8") + "\n本通知自发布之日起施行。", encoding="utf-8")
    moment = random.Random(seed).uniform(0.3, 1.0) * seconds
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(corpus)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(moment)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if seed > 2:  # back to the reference texts: the rerun must replace the half-written new versions
        for name in SMALL_CORPUS:
            shutil.copy(BUNDLED / "beijing" / name, corpus / name)
    _run(env, corpus)
    assert differences(expected, snapshot(_settings(tmp_path))) == [], f"killed at {moment:.2f} s of {seconds:.2f} s"
