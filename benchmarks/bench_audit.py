"""What the audit log costs: appends per second (SQLite and PostgreSQL; one writer, and eight writers
on their own connections as eight workers would be), verification time per 100k events (and a
million with --million), and what recording adds to an answer (the record step's share of
the answer pipeline over the bundled corpus, in process).

    python benchmarks/bench_audit.py [--appends 2000] [--verify 100000] [--million] [--questions 60] [--json]

PostgreSQL is Debian's, started in a temporary folder (skipped when not installed; fsync off, as in
the tests — a production server with fsync pays its disk's commit latency per append).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from app.audit.store import AuditEvent, AuditStore  # noqa: E402
from benchmarks.audit_fill import fill  # noqa: E402
from benchmarks.bench_embedded import QUESTIONS, percentile  # noqa: E402

RESIDENTS = REPO.parent / "shared" / "corpus" / "beijing-qa" / "questions.dev.jsonl"
DETAILS = {"endpoint": "find", "filters": {"validity": ["现行有效"]}, "found": 12, "chunk_ids": [str(uuid.uuid4())] * 5}


def appends(url: str, total: int, writers: int) -> float:
    stores = [AuditStore(url) for _ in range(writers)]
    each = total // writers

    def write(store: AuditStore) -> None:
        for i in range(each):
            store.record(AuditEvent("lookup", "api", "ok", f"低保标准 {i}", None, DETAILS, actor="citizen anonymous"))

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    clock = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = each * writers / (time.perf_counter() - clock)
    assert stores[0].verify().ok
    for s in stores:
        s.close()
    return round(rate, 1)


def verify_time(url: str, n: int) -> dict:
    store = AuditStore(url)
    clock = time.perf_counter()
    fill(store, n)
    filled = time.perf_counter() - clock
    clock = time.perf_counter()
    report = store.verify()
    seconds = time.perf_counter() - clock
    store.close()
    assert report.ok and report.checked == n
    return {"events": n, "verify_s": round(seconds, 2), "per_100k_s": round(seconds * 100_000 / n, 2),
            "fill_s": round(filled, 1)}


def answer_share(questions: int) -> dict:
    """Answer pipeline over the bundled corpus in process: total and the record step, p50/p95 (ms)."""
    from app.composition import build_services
    from app.config import Settings
    from app.pipeline.context import AnswerContext

    with tempfile.TemporaryDirectory(prefix="jingce-bench-audit-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        services = build_services(settings)
        try:
            services.indexer.sync([str(REPO / p) for p in settings.ingest.corpus_paths])
            services.warm_up()
            totals, records = [], []
            asked = [json.loads(line)["question"] for line in RESIDENTS.read_text(encoding="utf-8").splitlines()
                     if line.strip()] if RESIDENTS.exists() else []
            for question in (asked + QUESTIONS)[:questions]:
                ctx = services.pipeline.run(AnswerContext(question, channel="bench"))
                totals.append(sum(ctx.timings_ms.values()))
                records.append(ctx.timings_ms["record"])
        finally:
            services.close()
    without = [t - r for t, r in zip(totals, records)]
    return {"questions": len(totals),
            "with_audit_ms": {"p50": round(percentile(totals, 0.5), 1), "p95": round(percentile(totals, 0.95), 1)},
            "without_audit_ms": {"p50": round(percentile(without, 0.5), 1), "p95": round(percentile(without, 0.95), 1)},
            "record_step_ms": {"p50": percentile(records, 0.5), "p95": percentile(records, 0.95)}}


def store_costs(args, results: dict) -> None:
    from tests import postgres_server

    with tempfile.TemporaryDirectory(prefix="jingce-bench-audit-") as tmp:
        urls = {"sqlite": lambda name: f"sqlite:///{tmp}/{name}.sqlite3"}
        servers = postgres_server.postgres_server() if postgres_server.available() else None
        pg = servers.__enter__() if servers else None
        try:
            if pg:
                from sqlalchemy import create_engine, text

                def pg_url(name: str) -> str:
                    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.execute(text(f"CREATE DATABASE {name}"))
                    admin.dispose()
                    return pg.rsplit("/", 1)[0] + "/" + name

                urls["postgresql"] = pg_url
            for kind, url in urls.items():
                results["appends_per_s"][kind] = {f"{w}_writers": appends(url(f"a{w}"), args.appends, w) for w in (1, 8)}
                results["verify"][kind] = verify_time(url("v"), args.verify)
            if args.million:
                for kind, url in urls.items():
                    results["verify"][f"{kind}_1m"] = verify_time(url("m"), 1_000_000)
        finally:
            if servers:
                servers.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--verify", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="Also verify 1,000,000 events on each database.")
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--answers-only", action="store_true", help="Only the answer latency part.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results: dict = {"appends_per_s": {}, "verify": {}}
    if not args.answers_only:
        store_costs(args, results)
    if args.questions:
        results["answer"] = answer_share(args.questions)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return
    for kind, rates in results["appends_per_s"].items():
        print(f"{kind:10s} appends/s: 1 writer {rates['1_writers']}, 8 writers {rates['8_writers']}")
    for kind, v in results["verify"].items():
        print(f"{kind:10s} verify {v['events']} events: {v['verify_s']} s ({v['per_100k_s']} s per 100k)")
    if "answer" in results:
        a = results["answer"]
        print(f"answer ({a['questions']} questions): with audit p50 {a['with_audit_ms']['p50']} / p95 "
              f"{a['with_audit_ms']['p95']} ms, without p50 {a['without_audit_ms']['p50']} / p95 "
              f"{a['without_audit_ms']['p95']} ms; record step p50 {a['record_step_ms']['p50']} / p95 "
              f"{a['record_step_ms']['p95']} ms")


if __name__ == "__main__":
    main()
