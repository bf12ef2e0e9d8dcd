"""Answer latency of the served app on the embedded default (extractive composer), over HTTP on
loopback: JSON answers p50/p95, and for SSE the time to the first event (`sources`), to the first
sentence (`delta`) and to `done`; the same question streamed through the OpenAI protocol
(`/v1/chat/completions`): time to its first chunk and to its first content.

    python benchmarks/bench_answers.py [--questions 100] [--json]

It ingests the bundled corpus into a temporary data directory (fast when the embedding cache is
warm, ~2.5 minutes when cold), starts `jingce serve` in its own process, and asks distinct questions
(so that no query-embedding cache helps).
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
from benchmarks.bench_embedded import QUESTIONS, percentile  # noqa: E402
from benchmarks.served import served_bundled_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with served_bundled_corpus() as base:
        results = run(base, args.questions)
    print(f"JSON /v1/chat: p50 {results['json_ms']['p50']:.1f} ms, p95 {results['json_ms']['p95']:.1f} ms "
          f"({results['answered']} answered, {results['refused']} refused of {results['questions']})")
    print(f"SSE first event (sources): p50 {results['sse_first_event_ms']['p50']:.1f} ms, "
          f"p95 {results['sse_first_event_ms']['p95']:.1f} ms; done: p50 {results['sse_done_ms']['p50']:.1f} ms, "
          f"p95 {results['sse_done_ms']['p95']:.1f} ms")
    print(f"SSE first sentence: p95 {results['sse_first_sentence_ms']['p95']:.1f} ms; OpenAI stream first chunk: "
          f"p95 {results['openai_first_chunk_ms']['p95']:.1f} ms, first content: p95 "
          f"{results['openai_first_content_ms']['p95']:.1f} ms")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


def run(base: str, n: int) -> dict:
    json_ms, first_ms, delta_ms, done_ms, openai_first_ms, openai_content_ms = [], [], [], [], [], []
    answered = refused = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(n):
            question = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f"（第{i}问）")
            clock = time.perf_counter()
            body = client.post("/v1/chat", json={"question": question}).json()
            json_ms.append((time.perf_counter() - clock) * 1000)
            answered += not body["refusal"]
            refused += body["refusal"]
            question = question + "？"  # a new text again: no cached query embedding
            clock = time.perf_counter()
            first = delta = None
            with client.stream("POST", "/v1/chat", json={"question": question, "stream": True}) as response:
                for line in response.iter_lines():
                    if line.startswith("event:") and first is None:
                        first = (time.perf_counter() - clock) * 1000
                    if line.startswith("event: delta") and delta is None:
                        delta = (time.perf_counter() - clock) * 1000
                    if line.startswith("event: done"):
                        break
            done_ms.append((time.perf_counter() - clock) * 1000)
            first_ms.append(first)
            if delta is not None:
                delta_ms.append(delta)
            question = question + "？"
            clock = time.perf_counter()
            first = content = None
            with client.stream("POST", "/v1/chat/completions", json={
                    "model": "jingce", "stream": True, "messages": [{"role": "user", "content": question}]}) as response:
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    if first is None:
                        first = (time.perf_counter() - clock) * 1000
                    if line == "data: [DONE]":
                        break
                    if content is None and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                        content = (time.perf_counter() - clock) * 1000
            openai_first_ms.append(first)
            if content is not None:
                openai_content_ms.append(content)
    stats = lambda xs: {"p50": percentile(xs, 0.5), "p95": percentile(xs, 0.95)}  # noqa: E731
    return {"questions": n, "answered": answered, "refused": refused, "json_ms": stats(json_ms),
            "sse_first_event_ms": stats(first_ms), "sse_first_sentence_ms": stats(delta_ms),
            "sse_done_ms": stats(done_ms), "openai_first_chunk_ms": stats(openai_first_ms),
            "openai_first_content_ms": stats(openai_content_ms)}


if __name__ == "__main__":
    main()
