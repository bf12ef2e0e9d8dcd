"""Load on the served app: concurrent answer streams and ticket routes, then a soak.

    python benchmarks/bench_load.py [--levels 1 2 4 8 16] [--seconds 20] [--soak-seconds 600] [--json]
    QDRANT_URL=http://qdrant:6333 python benchmarks/bench_load.py --workers 2   # scale-out, needs a server

Against `jingce serve` on the embedded default (one worker, the bundled corpus, extractive answers)
on loopback, from an asyncio client. At each concurrency level N, N virtual users loop for
`--seconds`: three answer streams (POST /v1/chat, SSE; questions made distinct so no cache answers)
to one ticket route (POST /v1/tickets/route, an agent key, a hotline message). Reported per level:
completed requests/s, p50/p95 time to the first SSE event and to the complete answer, p50/p95 of a
route, error rate. The knee is the fewest users reaching 85 % of the highest throughput measured.
The soak then runs `--soak-concurrency` users for `--soak-seconds` and samples the server's resident
memory every 10 s: flat means the slope over the second half is near zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.bench_embedded import QUESTIONS, percentile  # noqa: E402
from benchmarks.served import agent_headers, served_bundled_corpus  # noqa: E402

TICKETS = REPO.parent / "shared" / "corpus" / "hotline" / "messages-with-replies.jsonl"


def _tickets() -> list[str]:
    records = [json.loads(line) for line in TICKETS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [f"{r['留言主题']}。{r['留言详情']}"[:600] for r in records]


class Load:
    def __init__(self, base: str, agent: dict[str, str], tickets: list[str]) -> None:
        self.base, self.agent, self.tickets = base, agent, tickets
        self.counter = 0

    async def chat(self, client: httpx.AsyncClient, out: dict) -> None:
        self.counter += 1
        question = QUESTIONS[self.counter % len(QUESTIONS)] + f"（{self.counter}）"
        clock = time.perf_counter()
        first, ok = None, False
        try:
            async with client.stream("POST", "/v1/chat", json={"question": question, "stream": True}) as response:
                if response.status_code != 200:
                    out["errors"] += 1
                    return
                async for line in response.aiter_lines():
                    if line.startswith("event:") and first is None:
                        first = time.perf_counter() - clock
                    if line.startswith("event: error"):
                        break
                    if line.startswith("event: done"):
                        ok = True
        except httpx.HTTPError:
            pass
        if not ok:
            out["errors"] += 1
            return
        out["first_event"].append(first * 1000)
        out["complete"].append((time.perf_counter() - clock) * 1000)

    async def route(self, client: httpx.AsyncClient, out: dict) -> None:
        self.counter += 1
        clock = time.perf_counter()
        try:
            response = await client.post("/v1/tickets/route", headers=self.agent,
                                         json={"text": self.tickets[self.counter % len(self.tickets)],
                                               "draft_reply": False})
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            out["route"].append((time.perf_counter() - clock) * 1000)
        else:
            out["errors"] += 1

    async def user(self, client: httpx.AsyncClient, until: float, out: dict) -> None:
        n = 0
        while time.perf_counter() < until:
            await (self.route(client, out) if n % 4 == 3 else self.chat(client, out))
            n += 1

    async def run(self, users: int, seconds: float) -> dict:
        out: dict = {"first_event": [], "complete": [], "route": [], "errors": 0}
        limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
        async with httpx.AsyncClient(base_url=self.base, timeout=120, limits=limits) as client:
            started = time.perf_counter()
            await asyncio.gather(*(self.user(client, started + seconds, out) for _ in range(users)))
            elapsed = time.perf_counter() - started
        done = len(out["complete"]) + len(out["route"])
        stats = {"users": users, "seconds": round(elapsed, 1), "requests": done + out["errors"],
                 "throughput_rps": round(done / elapsed, 2),
                 "error_rate": round(out["errors"] / max(done + out["errors"], 1), 4)}
        for name in ("first_event", "complete", "route"):
            values = out[name]
            stats[f"{name}_p50_ms"] = round(percentile(values, 0.5), 1) if values else None
            stats[f"{name}_p95_ms"] = round(percentile(values, 0.95), 1) if values else None
        return stats


def knee(levels: list[dict]) -> int | None:
    """The fewest users that reach 85 % of the highest throughput measured: beyond it, more users
    mostly add waiting (latency grows about in proportion), not answers."""
    if not levels:
        return None
    best = max(level["throughput_rps"] for level in levels)
    return next(level["users"] for level in levels if level["throughput_rps"] >= 0.85 * best)


async def soak(load: Load, process, users: int, seconds: float) -> dict:
    import psutil

    proc = psutil.Process(process.pid)
    samples: list[tuple[float, float]] = []
    started = time.perf_counter()

    def rss_mb() -> float:  # the server and its worker processes, when there are several
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20

    async def sample() -> None:
        while time.perf_counter() - started < seconds:
            samples.append((time.perf_counter() - started, rss_mb()))
            await asyncio.sleep(10)

    sampler = asyncio.create_task(sample())
    stats = await load.run(users, seconds)
    sampler.cancel()
    samples.append((time.perf_counter() - started, rss_mb()))
    half = [s for s in samples if s[0] >= seconds / 2] or samples
    slope = 0.0
    if len(half) > 1:  # least squares, MB per minute
        mean_t = sum(t for t, _ in half) / len(half)
        mean_m = sum(m for _, m in half) / len(half)
        spread = sum((t - mean_t) ** 2 for t, _ in half) or 1.0
        slope = sum((t - mean_t) * (m - mean_m) for t, m in half) / spread * 60
    return {**stats, "rss_start_mb": round(samples[0][1], 1), "rss_end_mb": round(samples[-1][1], 1),
            "rss_max_mb": round(max(m for _, m in samples), 1), "rss_slope_second_half_mb_per_min": round(slope, 2),
            "rss_samples": [(round(t), round(m, 1)) for t, m in samples]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="*", default=[1, 2, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--soak-seconds", type=float, default=600)
    parser.add_argument("--soak-concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (above 1: QDRANT_URL required)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.workers > 1 and not os.environ.get("QDRANT_URL"):
        raise SystemExit("--workers above 1 needs QDRANT_URL: the embedded store belongs to one process")
    handle: dict = {}
    with served_bundled_corpus(handle=handle, workers=args.workers) as base:
        load = Load(base, agent_headers(handle), _tickets())
        asyncio.run(load.run(2, 5))  # warm: first requests load models and caches
        levels = []
        for users in args.levels:
            levels.append(asyncio.run(load.run(users, args.seconds)))
            r = levels[-1]
            print(f"{users:3d} users: {r['throughput_rps']:6.2f} req/s  first event p50 {r['first_event_p50_ms']} "
                  f"p95 {r['first_event_p95_ms']} ms  complete p95 {r['complete_p95_ms']} ms  route p50 "
                  f"{r['route_p50_ms']} p95 {r['route_p95_ms']} ms  errors {r['error_rate']:.1%}", flush=True)
        result: dict = {"workers": args.workers, "store": os.environ.get("QDRANT_URL") or "qdrant-edge",
                        "levels": levels, "knee_users": knee(levels)}
        print(f"knee: {result['knee_users']} users")
        if args.soak_seconds > 0:
            result["soak"] = asyncio.run(soak(load, handle["process"], args.soak_concurrency, args.soak_seconds))
            s = result["soak"]
            print(f"soak {args.soak_seconds:.0f} s × {args.soak_concurrency} users: {s['requests']} requests, "
                  f"errors {s['error_rate']:.1%}, RSS {s['rss_start_mb']} → {s['rss_end_mb']} MB (max "
                  f"{s['rss_max_mb']}), second-half slope {s['rss_slope_second_half_mb_per_min']} MB/min")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
