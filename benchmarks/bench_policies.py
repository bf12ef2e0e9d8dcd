"""Latency and throughput of the policy-lookup API on the embedded default, over HTTP on loopback.

    python benchmarks/bench_policies.py [--requests 200] [--concurrency 8] [--json]

Measures GET /v1/policies?q=… one request at a time, without and with filters, plus a filtered
list without q and a document read; then requests/s with N concurrent clients (each its own
connection) running the search mix. Queries are made distinct by a suffix, so the server's query-
embedding cache never answers for the model. The server is the production one: `jingce serve`,
one worker, the bundled corpus (benchmarks/served.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_embedded import QUESTIONS, percentile  # noqa: E402
from benchmarks.served import served_bundled_corpus  # noqa: E402

FILTERS = {"issuer": "北京市民政局", "published_from": "2015-01-01", "validity": "all", "level": "市级"}


def _query(i: int) -> str:
    return QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" {i}")


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 0.5), 2), "p95": round(percentile(values, 0.95), 2)}


def _timed(client: httpx.Client, path: str, params: dict) -> float:
    clock = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - clock) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path} {params}: {response.status_code} {response.text[:300]}")
    return elapsed


def sequential(base: str, n: int) -> dict:
    out: dict[str, list[float]] = {"search": [], "search_filtered": [], "list_filtered": [], "document": []}
    with httpx.Client(base_url=base, timeout=30) as client:
        doc_ids = [h["document"]["doc_id"] for h in client.get("/v1/policies", params={"validity": "all", "limit": 50}).json()["matches"]]
        for i in range(n):
            out["search"].append(_timed(client, "/v1/policies", {"q": _query(i)}))
            out["search_filtered"].append(_timed(client, "/v1/policies", {"q": _query(i) + "。", **FILTERS}))
            out["list_filtered"].append(_timed(client, "/v1/policies", {**FILTERS, "limit": 20}))
            out["document"].append(_timed(client, f"/v1/policies/{doc_ids[i % len(doc_ids)]}", {}))
    return {name: _stats(values) for name, values in out.items()}


def concurrent(base: str, n: int, clients: int) -> dict:
    """Each client sends its share of the search mix (half filtered) back to back."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def worker(k: int) -> None:
        mine = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for i in range(k, n, clients):
                params = {"q": _query(10_000 + i)} | (FILTERS if i % 2 else {})
                try:
                    mine.append(_timed(client, "/v1/policies", params))
                except SystemExit as exc:
                    errors.append(str(exc))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    clock = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - clock
    if errors:
        raise SystemExit(errors[0])
    return {"clients": clients, "requests": len(latencies), "seconds": round(seconds, 2),
            "requests_per_s": round(len(latencies) / seconds, 1), "latency_ms": _stats(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="per sequential measurement, and in all under load")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with served_bundled_corpus() as base:
        _timed(httpx.Client(base_url=base), "/v1/policies", {"q": "预热"})
        results = {"sequential_ms": sequential(base, args.requests),
                   "concurrent": concurrent(base, args.requests, args.concurrency)}
    for name, s in results["sequential_ms"].items():
        print(f"{name:16s} p50 {s['p50']:6.1f} ms   p95 {s['p95']:6.1f} ms")
    c = results["concurrent"]
    print(f"{c['clients']} concurrent clients: {c['requests_per_s']} requests/s "
          f"({c['requests']} searches in {c['seconds']} s), latency p50 {c['latency_ms']['p50']} / "
          f"p95 {c['latency_ms']['p95']} ms")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
