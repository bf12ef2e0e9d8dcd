"""Retrieval evaluation at document level: recall@1/5/10, MRR@10 and nDCG@10 for the hybrid search
and, in the same run over the same index, for BM25 alone and dense alone.

The index of an evaluation corpus is built once and reused, keyed by the corpus content, the
chunker version, the embedder and the chunk settings: a rerun only re-reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from app.composition import build_embedder, build_services
from app.jsonl import jsonl_records
from app.config import DatabaseSettings, QdrantSettings, Settings
from app.clients.vector_store import CHUNKS
from app.domain import SearchFilters
from ingestion.chunking import CHUNKER_VERSION

MODES = ("hybrid", "bm25", "dense", "hybrid_rrf")
INDEX_LAYOUT = "chunks+document-points"  # what kinds of points an index holds
_COMPLETE = "index-complete.json"


def index_key(corpus: Path, settings: Settings, model_id: str) -> str:
    h = hashlib.sha256(corpus.read_bytes())
    h.update(json.dumps([CHUNKER_VERSION, INDEX_LAYOUT, model_id, settings.ingest.chunk_max_chars,
                         settings.ingest.chunk_min_chars, settings.sparse.k1, settings.sparse.b,
                         settings.sparse.avg_len, settings.sparse.char_bigrams, _file_digest(settings.sparse.user_dict),
                         _file_digest(settings.sparse.stopwords)]).encode())
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "-"


def metrics_for(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    recall = {1: 0, 5: 0, 10: 0}
    mrr = ndcg = 0.0
    for docs, answer in zip(ranked, gold):
        rank = docs.index(answer) + 1 if answer in docs else None
        for k in recall:
            if rank is not None and rank <= k:
                recall[k] += 1
        if rank is not None and rank <= 10:
            mrr += 1 / rank
            ndcg += 1 / math.log2(rank + 1)  # one relevant document: ideal DCG is 1
    n = max(len(gold), 1)
    return {"recall@1": recall[1] / n, "recall@5": recall[5] / n, "recall@10": recall[10] / n,
            "mrr@10": mrr / n, "ndcg@10": ndcg / n}


def load_questions(path: Path) -> list[dict[str, Any]]:
    return [record for _, record in jsonl_records(path, ("question", "gold_docid"))]


def evaluation_services(corpus: Path, settings: Settings, index_dir: Path | None,
                        progress: Callable[[str], None] = lambda _: None):
    """Services over an index of `corpus` kept under index_dir (built once, then reused)."""
    base = index_dir or settings.embedding.cache_dir / "eval-indexes"
    embedder = build_embedder(settings)
    data_dir = base / index_key(corpus, settings, embedder.model_id)
    # an evaluation index is always the embedded store in its own folder, whatever QDRANT_URL says
    eval_settings = settings.model_copy(update={"data_dir": data_dir, "qdrant": QdrantSettings(url=None, local_path=None),
                                                "database": DatabaseSettings(url=None)})
    services = build_services(eval_settings, embedder=embedder)
    marker = data_dir / _COMPLETE
    if not marker.exists():
        progress(f"building the index of {corpus} in {data_dir} (embedding is cached by content hash)")
        report = services.indexer.sync([corpus], prune=True)
        if report.interrupted:
            services.close()
            raise KeyboardInterrupt
        marker.write_text(json.dumps(report.as_dict(), ensure_ascii=False))
    return services


def run_retrieval_eval(corpus: Path, questions_file: Path, settings: Settings, index_dir: Path | None,
                       progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    questions = load_questions(questions_file)
    services = evaluation_services(corpus, settings, index_dir, progress)
    try:
        chunks = services.store.count(CHUNKS)
        filters = SearchFilters(include_not_in_force=True)
        results: dict[str, Any] = {"questions": len(questions), "chunks": chunks}
        latencies: list[float] = []
        for mode in MODES:
            ranked = []
            for q in questions:
                clock = time.perf_counter()
                docs = services.retriever.search_documents(q["question"], top_k=10, filters=filters, mode=mode,
                                                           candidates=services.settings.retrieval.prefetch_limit)
                if mode == "hybrid":
                    latencies.append((time.perf_counter() - clock) * 1000)
                ranked.append([d.doc_id for d in docs])
            results[mode] = metrics_for(ranked, [q["gold_docid"] for q in questions])
        results["latency_ms"] = {"p50": statistics.median(latencies),
                                 "p95": sorted(latencies)[int(0.95 * (len(latencies) - 1))]}
        return results
    finally:
        services.close()


_NORMALISE = re.compile(r"[\s\u3000，。、；：！？,.;:!?“”\"'‘’（）()《》【】\[\]—\-·…]")


_MARKER = re.compile(r"\[\d+\]")


def normalise(text: str) -> str:
    """For answer recall: citation markers, punctuation and spaces do not count."""
    return _NORMALISE.sub("", _MARKER.sub("", text))


def run_answer_eval(corpus: Path, questions_file: Path, settings: Settings, index_dir: Path | None,
                    unanswerable: Path | None = None,
                    progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    from app.pipeline.context import AnswerContext
    from app.policy_data import status as answer_status

    questions = load_questions(questions_file)
    services = evaluation_services(corpus, settings, index_dir, progress)
    filters = SearchFilters(include_not_in_force=True)
    try:
        found = refused = citations = good_citations = sentences = supported = 0
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        for q in questions:
            clock = time.perf_counter()
            ctx = services.pipeline.run(AnswerContext(q["question"], channel="eval", filters=filters))
            latencies.append((time.perf_counter() - clock) * 1000)
            statuses[ctx.status] = statuses.get(ctx.status, 0) + 1
            if answer_status(ctx.status).refusal:
                refused += 1
                continue
            gold = normalise(q.get("answer", ""))
            if gold and gold in normalise(ctx.answer_text):
                found += 1
            for sentence in ctx.sentences:
                sentences += 1
                cited = [ctx.sources[c.number - 1] for c in sentence.citations]
                if any(normalise(sentence.text) in normalise(hit.text) for hit in cited):
                    supported += 1
                for hit in cited:
                    citations += 1
                    if hit.doc_id == q["gold_docid"] or (gold and gold in normalise(hit.text)):
                        good_citations += 1
        unanswerable_rate = None
        if unanswerable:
            lines = [line.strip() for line in unanswerable.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#")]
            refusals = sum(answer_status(services.pipeline.run(
                AnswerContext(line, channel="eval", filters=filters)).status).refusal for line in lines)
            unanswerable_rate = refusals / max(len(lines), 1)
        n = max(len(questions), 1)
        return {
            "questions": len(questions),
            "answer_recall": found / n,
            "citation_precision": good_citations / citations if citations else 0.0,
            "sentence_support": supported / sentences if sentences else 0.0,
            "refusal_rate": refused / n,
            "unanswerable_refusal_rate": unanswerable_rate,
            "latency_ms": {"p50": statistics.median(latencies) if latencies else 0.0,
                           "p95": sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else 0.0},
            "statuses": statuses,
        }
    finally:
        services.close()
