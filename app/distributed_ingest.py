"""Ingestion spread over workers through an RQ queue in Redis.

`jingce ingest --distributed PATHS` reads what the index holds, splits the corpus into batches —
a few files, or a slice of the records of one JSONL/JSON file — and queues each as a job with the
index state of its documents. `jingce worker` processes (any number, on any machine reaching Redis
and the store) take the jobs: parse, chunk, embed, BM25-encode, then write. A job is idempotent
(chunk ids are derived from the text, a document's points are written before its old ones are
removed, and a document the index already holds complete in this version is skipped), so a job
retried after a lost worker, or a whole run started again after an interruption, ends with the same
index. When every batch is done the coordinator removes documents that left the corpus, links
amendments across the whole index and optimises — once, not per worker. A batch that still fails
after its retries is reported with its reason, and then nothing is pruned: documents a failed batch
held must not be taken for deleted.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from app.clients.embeddings import ArrayEmbeddings
from app.clients.sparse import JiebaBm25Encoder
from app.clients.vector_store import DocState
from app.composition import build_embedder, build_indexer, build_sparse, store_session
from app.config import Settings
from ingestion.loaders import discover, load_file
from ingestion.sync import Indexer, SyncProgress, SyncReport

# record files hold many documents: they are split by document id, every other file is one batch member
RECORD_SUFFIXES = {".jsonl", ".json"}

INGESTED_DOCUMENTS = Counter("jingce_ingest_documents_total", "Documents handled by this ingestion worker.",
                             ["outcome"])
INGESTED_CHUNKS = Counter("jingce_ingest_chunks_total", "Chunks embedded and written by this ingestion worker.")
FAILED_BATCHES = Counter("jingce_ingest_batch_failures_total", "Batches that raised in this ingestion worker.")

Batch = list[tuple[str, list[str] | None]]  # (file, its document ids in this batch; None: all of them)
States = dict[str, tuple[str, bool]]  # doc_id → (doc_hash, complete)


def plan_batches(paths: list[str], settings: Settings) -> tuple[list[Batch], int]:
    """The corpus as batches, and how many documents (or files, where a file was not read here) they
    hold. Record files are read here to learn their ids; other files are parsed only by workers."""
    size = settings.ingest.batch_documents
    max_bytes = int(settings.ingest.max_file_mb * 2**20)
    batches: list[Batch] = []
    files: Batch = []
    total = 0
    for path in discover(paths):
        if path.suffix.lower() not in RECORD_SUFFIXES:
            files.append((str(path.resolve()), None))
            total += 1
            if len(files) == size:
                batches.append(files)
                files = []
            continue
        ids = [doc.doc_id for doc in load_file(path, max_bytes).documents]
        if not ids:  # unreadable or empty: a worker reports why, and the file keeps what the index holds
            batches.append([(str(path.resolve()), None)])
            continue
        for start in range(0, len(ids), size):
            batches.append([(str(path.resolve()), ids[start:start + size])])
        total += len(ids)
    if files:
        batches.append(files)
    return batches, total


def states_for(batch: Batch, states: dict[str, DocState]) -> States:
    """The index state of the documents a batch may hold, small enough to travel with the job."""
    ids = {i for _, batch_ids in batch if batch_ids for i in batch_ids}
    sources = {path for path, batch_ids in batch if batch_ids is None}
    return {doc_id: (state.doc_hash, state.complete) for doc_id, state in states.items()
            if doc_id in ids or (state.source_path and str(Path(state.source_path).resolve()) in sources)}


@dataclass
class WorkerParts:
    """What a worker process builds once and every job reuses; the store is opened per write."""

    settings: Settings
    embedder: ArrayEmbeddings
    sparse: JiebaBm25Encoder
    indexer: Indexer


_parts: WorkerParts | None = None


def worker_parts(settings: Settings | None = None) -> WorkerParts:
    global _parts
    if _parts is None:
        from app.config import get_settings

        settings = settings or get_settings()
        embedder = build_embedder(settings)
        sparse = build_sparse(settings)
        _parts = WorkerParts(settings, embedder, sparse, build_indexer(settings, None, embedder, sparse))
    return _parts


def index_batch(batch: Batch, known: States) -> dict[str, Any]:
    """The job: parse the batch's files, keep its documents, embed and write those the index lacks."""
    parts = worker_parts()
    indexer, report, timings = parts.indexer, SyncReport(), defaultdict(float)
    try:
        states = {doc_id: DocState(doc_hash, 1, stored=1 if complete else 0)
                  for doc_id, (doc_hash, complete) in known.items()}
        seen: list[str] = []
        unreadable: list[str] = []
        pending = []
        for path, ids in batch:
            loaded = load_file(Path(path), indexer.max_file_bytes)
            report.failed.extend((path, reason) for reason in loaded.failures)
            if not loaded.ok:
                unreadable.append(str(Path(path).resolve()))
            wanted = set(ids) if ids is not None else None
            for doc in loaded.documents:
                if wanted is not None and doc.doc_id not in wanted:
                    continue
                seen.append(doc.doc_id)
                item = indexer.plan(doc, states, report, timings)
                if item is not None:
                    pending.append(item)
        encoded = indexer.encode_in_batches(pending, report, timings)
        if encoded:
            with store_session(parts.settings, parts.embedder.dim) as store:
                Indexer.write(encoded, store, report, timings)
    except Exception:
        FAILED_BATCHES.inc()
        raise
    INGESTED_DOCUMENTS.labels("written").inc(len(report.added) + len(report.updated))
    INGESTED_DOCUMENTS.labels("unchanged").inc(len(report.skipped))
    INGESTED_DOCUMENTS.labels("failed").inc(len(report.failed))
    INGESTED_CHUNKS.inc(report.chunks_written)
    return {"seen": seen, "unreadable": unreadable, "added": report.added, "updated": report.updated,
            "skipped": report.skipped, "failed": report.failed, "chunks_written": report.chunks_written,
            "chunks_embedded": report.chunks_embedded, "seconds": dict(timings)}


def _queue(settings: Settings):
    from redis import Redis
    from rq import Queue

    if not settings.ingest.queue_url:
        raise RuntimeError("INGEST_QUEUE_URL is not set: distributed ingestion needs the Redis that holds its queue")
    return Queue(settings.ingest.queue_name, connection=Redis.from_url(settings.ingest.queue_url))


def distributed_sync(paths: list[str], settings: Settings, prune: bool = True,
                     progress: SyncProgress | None = None, poll_s: float = 0.5) -> SyncReport:
    """Queue the corpus, wait for the workers, then prune, link and optimise. Ctrl+C (or SIGTERM made
    KeyboardInterrupt) cancels the batches not yet started; what was written stays consistent."""
    from rq import Retry
    from rq.job import Job, JobStatus

    queue = _queue(settings)
    report = SyncReport()
    clock = time.perf_counter()
    embedder = build_embedder(settings)
    sparse = build_sparse(settings)
    with store_session(settings, embedder.dim) as store:
        states = store.doc_states()
    report.seconds["read_index"] = time.perf_counter() - clock
    batches, total = plan_batches(paths, settings)
    if progress:
        progress.start(total)
    jobs = [queue.enqueue(index_batch, batch, states_for(batch, states), job_timeout=settings.ingest.job_timeout_s,
                          retry=Retry(max=settings.ingest.job_retries) if settings.ingest.job_retries else None,
                          result_ttl=86400, failure_ttl=7 * 86400, description=f"ingest batch {n + 1}/{len(batches)}")
            for n, batch in enumerate(batches)]
    present: set[str] = set()
    unreadable: set[str] = set()
    open_jobs = {job.id: n for n, job in enumerate(jobs)}
    failed_batches = 0
    try:
        while open_jobs:
            for job in Job.fetch_many(list(open_jobs), connection=queue.connection):
                if job is None:
                    continue
                status = job.get_status(refresh=False)
                if status == JobStatus.FINISHED:
                    result = job.return_value()
                    open_jobs.pop(job.id)
                    present.update(result["seen"])
                    unreadable.update(result["unreadable"])
                    report.added += result["added"]
                    report.updated += result["updated"]
                    report.skipped += result["skipped"]
                    report.failed += [tuple(f) for f in result["failed"]]
                    report.chunks_written += result["chunks_written"]
                    report.chunks_embedded += result["chunks_embedded"]
                    for step, seconds in result["seconds"].items():
                        report.seconds[f"workers_{step}"] = report.seconds.get(f"workers_{step}", 0.0) + seconds
                    if progress:
                        progress.advance(len(result["seen"]) or 1, result["chunks_written"])
                elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                    n = open_jobs.pop(job.id)
                    failed_batches += 1
                    reason = (job.exc_info or status.value).strip().splitlines()[-1]
                    report.failed.append((", ".join(path for path, _ in batches[n]), f"batch {n + 1} failed: {reason}"))
            if open_jobs:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        report.interrupted = True
        for job_id in open_jobs:
            try:
                Job.fetch(job_id, connection=queue.connection).cancel()
            except Exception:  # already taken by a worker: it finishes its batch, which is harmless
                pass
    report.seconds["batches"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with store_session(settings, embedder.dim) as store:
        finisher = build_indexer(settings, store, embedder, sparse)
        if prune and not report.interrupted and not failed_batches:
            finisher.prune(paths, unreadable, present, states, report)
        if not report.interrupted:
            report.relations_changed = finisher.link_documents()
        if report.chunks_written or report.removed:
            store.optimize()
    report.seconds["finish"] = time.perf_counter() - clock
    return report


def ingest_worker_class():
    """RQ's SimpleWorker (jobs run in the worker's own process: no fork per job, so the embedder loaded
    once is reused) with a command listener that stops within a second.

    RQ listens for its commands (stop-job, shutdown) on a pub/sub thread that polls every 60 s, and
    its teardown unsubscribes, then joins that thread. redis-py 7+ joins without a bound, and a thread
    that saw the unsubscribe before the stop flag waits out its whole poll in `get_message`: a worker
    given SIGTERM lingered up to a minute after its batch (tests/test_distributed_ingest.py). Polling
    every second bounds the exit whatever the redis client's join does; a command still arrives at once.
    """
    from rq import SimpleWorker

    class IngestWorker(SimpleWorker):
        COMMAND_POLL_S = 1.0

        def subscribe(self) -> None:
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=self.COMMAND_POLL_S, daemon=True,
                                                           exception_handler=self._pubsub_exception_handler)

    return IngestWorker


def run_worker(settings: Settings, burst: bool = False, metrics_port: int | None = None) -> None:
    """An ingestion worker on the settings' queue. SIGTERM lets it finish the batch in hand first
    (RQ's warm shutdown), then it exits."""
    worker_parts(settings)  # load the embedder before taking the first job
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    queue = _queue(settings)
    ingest_worker_class()([queue], connection=queue.connection).work(burst=burst, logging_level="WARNING")
