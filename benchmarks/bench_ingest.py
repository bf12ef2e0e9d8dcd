"""Ingestion rate against corpus size, one process and two queue workers.

    python benchmarks/bench_ingest.py [--sizes 50 100 200 400 599] [--cold-docs 12] [--json]

Slices of ../shared/corpus/ncp-policy-qa/documents.jsonl (599 COVID-period documents) are ingested by
`jingce ingest` into a fresh embedded index each, with the embedding cache as it is (warm after the
evaluations: this measures parsing, chunking, BM25, writing and indexing — everything but the model).
The model's own rate is measured apart on `--cold-docs` documents with an empty cache. Then the whole
file through `jingce ingest --distributed` with two `jingce worker` processes on a real Redis, against
the server adapter on a folder (no Qdrant server runs here), beside the same single-process run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.served import free_port  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "ncp-policy-qa" / "documents.jsonl"


def _slice(n: int, folder: Path) -> Path:
    target = folder / f"ncp-{n}.jsonl"
    with CORPUS.open(encoding="utf-8") as lines:
        target.write_text("".join(line for _, line in zip(range(n), lines)), encoding="utf-8")
    return target


def _ingest(env: dict, *args: str) -> tuple[dict, float]:
    clock = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app.cli", "ingest", *args, "--json"], env=env, cwd=REPO,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - clock


def _env(folder: Path, **extra: str) -> dict:
    return {**os.environ, "JINGCE_ENV_FILE": "", "JINGCE_DATA_DIR": str(folder / "data"), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 100, 200, 400, 599])
    parser.add_argument("--cold-docs", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict = {"sizes": []}
    with tempfile.TemporaryDirectory(prefix="jingce-bench-ingest-") as tmp:
        root = Path(tmp)
        for n in args.sizes:
            folder = root / f"size-{n}"
            folder.mkdir()
            summary, seconds = _ingest(_env(folder), str(_slice(n, root)))
            row = {"documents": n, "chunks": summary["chunks_written"], "seconds": round(seconds, 1),
                   "documents_per_s": round(n / seconds, 1), "chunks_per_s": round(summary["chunks_written"] / seconds, 1),
                   "embedded": summary["chunks_embedded"], "steps_s": summary["seconds"]}
            result["sizes"].append(row)
            print(f"{n:4d} documents, {row['chunks']:5d} chunks: {seconds:6.1f} s, {row['documents_per_s']} docs/s, "
                  f"{row['chunks_per_s']} chunks/s ({row['embedded']} embedded anew)", flush=True)

        cold = root / "cold"
        cold.mkdir()
        summary, seconds = _ingest(_env(cold, EMBEDDING_CACHE_DIR=str(cold / "cache")),
                                   str(_slice(args.cold_docs, cold)))
        embed_s = summary["seconds"]["embed"]
        result["cold_model"] = {"documents": args.cold_docs, "chunks": summary["chunks_embedded"],
                                "embed_s": embed_s, "chunks_per_s": round(summary["chunks_embedded"] / embed_s, 2)}
        print(f"the model alone (empty cache): {summary['chunks_embedded']} chunks in {embed_s:.1f} s, "
              f"{result['cold_model']['chunks_per_s']} chunks/s", flush=True)

        redis = shutil.which("redis-server")
        if redis:
            full = _slice(args.sizes[-1], root)
            port = free_port()
            server = subprocess.Popen([redis, "--port", str(port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL)
            try:
                time.sleep(0.5)
                rows = {}
                for mode in ("single", "two_workers"):
                    folder = root / mode
                    folder.mkdir()
                    env = _env(folder, QDRANT_LOCAL_PATH=str(folder / "store"),
                               INGEST_QUEUE_URL=f"redis://127.0.0.1:{port}/0")
                    workers = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, cwd=REPO,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                               for _ in range(2 if mode == "two_workers" else 0)]
                    try:
                        summary, seconds = _ingest(env, *(["--distributed"] if workers else []), str(full))
                    finally:
                        for worker in workers:
                            worker.terminate()
                            worker.wait(timeout=60)
                    rows[mode] = {"documents": args.sizes[-1], "chunks": summary["chunks_written"],
                                  "seconds": round(seconds, 1), "chunks_per_s": round(summary["chunks_written"] / seconds, 1)}
                    print(f"{mode}: {rows[mode]['chunks']} chunks in {seconds:.1f} s "
                          f"({rows[mode]['chunks_per_s']} chunks/s), server adapter on a folder", flush=True)
                result["distributed"] = rows
            finally:
                server.kill()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
