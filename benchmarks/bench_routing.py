"""Latency of ticket routing on the embedded default, over HTTP on loopback.

    python benchmarks/bench_routing.py [--tickets 100] [--json]

Routes hotline messages of ../shared/corpus/hotline/messages-with-replies.jsonl (not the training
file) through POST /v1/tickets/route: N without the reply draft, N others with it — each text new
to the server, so the ticket's embedding is computed every time. The category model is trained
ahead (`jingce train routing`, embeddings cached by content) and loaded at start: both times are
reported, and the first request's apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_embedded import percentile  # noqa: E402
from benchmarks.served import agent_headers, served_bundled_corpus  # noqa: E402

TICKETS = REPO.parent / "shared" / "corpus" / "hotline" / "messages-with-replies.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    records = [json.loads(line) for line in TICKETS.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [f"{r['留言主题']}。{r['留言详情']}" for r in records][:2 * args.tickets + 1]
    results: dict = {"tickets": len(texts)}
    stages: dict[str, float] = {}
    handle: dict = {}
    with served_bundled_corpus(timings=stages, handle=handle) as base, \
            httpx.Client(base_url=base, timeout=300, headers=agent_headers(handle)) as client:
        clock = time.perf_counter()
        client.post("/v1/tickets/route", json={"text": texts[0], "draft_reply": False}).raise_for_status()
        results["first_request_ms"] = round((time.perf_counter() - clock) * 1000, 1)
        results["train_routing_s"], results["start_s"] = stages["train routing"], stages["start"]
        for draft, part in ((False, texts[1:args.tickets + 1]), (True, texts[args.tickets + 1:])):
            times, review = [], 0
            for text in part:
                clock = time.perf_counter()
                response = client.post("/v1/tickets/route", json={"text": text, "draft_reply": draft})
                response.raise_for_status()
                times.append((time.perf_counter() - clock) * 1000)
                review += response.json()["needs_review"]
            results["with_draft" if draft else "without_draft"] = {
                "p50_ms": round(percentile(times, 0.5), 1), "p95_ms": round(percentile(times, 0.95), 1),
                "tickets": len(part), "review_share": round(review / len(part), 3)}
    print(f"jingce train routing {results['train_routing_s']} s, server start {results['start_s']} s, "
          f"first request {results['first_request_ms']} ms")
    for name in ("without_draft", "with_draft"):
        r = results[name]
        print(f"{name:14s} p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  sent to review {r['review_share']:.0%}")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
