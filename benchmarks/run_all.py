"""Every benchmark, then benchmarks/README.md written from what they printed: `make bench`.

    python benchmarks/run_all.py [--only load ingest …] [--render-only] [--quick]

Each benchmark runs as its own process with `--json`; its last JSON line is kept in
benchmarks/results/<name>.json (git-ignored) and the README is rendered from those files, with the
machine they ran on and PNG plots (latency against concurrency, ingestion rate against corpus size)
in benchmarks/plots/. `--render-only` re-renders from the kept results; `--only` re-runs some and
keeps the others' last results. `--quick` shortens every run (a smoke test of the harness, not numbers
to publish). Benchmarks that need what this machine lacks (Chromium, PostgreSQL, ../shared) fail
loudly rather than leave a stale section: their section says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "benchmarks"
RESULTS = HERE / "results"
PLOTS = HERE / "plots"

# name → (script, arguments, quick arguments); in the order the README shows them
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "embedded": ("bench_embedded.py", ["--skip-cold", "--sizes", "100000", "--queries", "200"],
                 ["--skip-cold", "--sizes", "5000", "--queries", "20"]),
    "ingest": ("bench_ingest.py", [], ["--sizes", "20", "40", "--cold-docs", "3"]),
    "answers": ("bench_answers.py", ["--questions", "100"], ["--questions", "10"]),
    "selector": ("bench_selector.py", ["--questions", "300"], ["--questions", "20"]),
    "long_questions": ("bench_long_questions.py", ["--questions", "20"], ["--questions", "3"]),
    "policies": ("bench_policies.py", ["--requests", "200"], ["--requests", "20"]),
    "routing": ("bench_routing.py", ["--tickets", "100"], ["--tickets", "10"]),
    "hot_topics": ("bench_hot_topics.py", [], []),
    "widget": ("bench_widget.py", ["--questions", "60"], ["--questions", "5"]),
    "audit": ("bench_audit.py", [], ["--appends", "200", "--verify", "2000", "--questions", "5"]),
    "load": ("bench_load.py", ["--levels", "1", "2", "4", "8", "16", "32", "--seconds", "20", "--soak-seconds", "600"],
             ["--levels", "1", "2", "--seconds", "3", "--soak-seconds", "12"]),
}


def run(name: str, quick: bool) -> None:
    script, arguments, quick_arguments = BENCHMARKS[name]
    command = [sys.executable, str(HERE / script), *(quick_arguments if quick else arguments), "--json"]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    clock = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")})
    seconds = round(time.perf_counter() - clock, 1)
    record = {"command": "python " + " ".join(str(Path(c).relative_to(REPO)) if c.startswith(str(REPO)) else c
                                              for c in command[1:]),
              "ran_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "seconds": seconds,
              "machine": machine(), "quick": quick}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        record["failed"] = (done.stderr or done.stdout).strip().splitlines()[-5:]
        print(f"   failed after {seconds} s: {record['failed'][-1] if record['failed'] else done.returncode}")
    else:
        record["result"] = json.loads(lines[-1])
        record["printed"] = [line for line in done.stdout.splitlines() if not line.startswith("{")][-40:]
        print(f"   {seconds} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def machine() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "system": platform.platform()}


def _flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in _flatten(item, f"{prefix}{key}." if prefix or key else "")]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return []  # tables of rows are drawn apart
    if isinstance(value, float):
        value = round(value, 2 if abs(value) < 100 else 1)
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    return [(prefix.rstrip("."), text if len(text) < 160 else text[:157] + "…")]


def _row_tables(value, prefix: str = "") -> list[tuple[str, list[dict]]]:
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in _row_tables(item, f"{prefix}{key}.")]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(prefix.rstrip("."), value)]
    return []


def _table(rows: list[dict]) -> list[str]:
    keys = [k for k in rows[0] if not isinstance(rows[0][k], (dict, list))]
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return out


def _doc(script: str) -> str:
    import ast

    text = ast.get_docstring(ast.parse((HERE / script).read_text(encoding="utf-8"))) or ""
    paragraphs = [p for p in text.split("\n\n") if not p.strip().startswith("python ")]
    return " ".join(" ".join(paragraphs).split())


def plots(records: dict[str, dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(exist_ok=True)
    made = []
    load = records.get("load", {}).get("result")
    if load:
        levels = load["levels"]
        users = [r["users"] for r in levels]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for key, label in (("first_event_p50_ms", "answer: first event p50"), ("first_event_p95_ms", "answer: first event p95"),
                           ("complete_p95_ms", "answer: complete p95"), ("route_p50_ms", "route p50"),
                           ("route_p95_ms", "route p95")):
            left.plot(users, [r[key] for r in levels], marker="o", label=label)
        left.set(xscale="log", yscale="log", xlabel="concurrent users", ylabel="ms", title="Latency against concurrency")
        left.set_xticks(users, [str(u) for u in users])
        left.legend(fontsize=8)
        right.plot(users, [r["throughput_rps"] for r in levels], marker="o")
        right.set(xscale="log", xlabel="concurrent users", ylabel="completed requests/s", title="Throughput")
        right.set_xticks(users, [str(u) for u in users])
        if load.get("knee_users"):
            right.axvline(load["knee_users"], color="grey", linestyle="--", label=f"knee: {load['knee_users']} users")
            right.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(PLOTS / "latency_vs_concurrency.png", dpi=110)
        plt.close(fig)
        made.append("latency_vs_concurrency.png")
        soak = load.get("soak")
        if soak and soak.get("rss_samples"):
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.plot([t / 60 for t, _ in soak["rss_samples"]], [m for _, m in soak["rss_samples"]], marker=".")
            ax.set(xlabel="minutes", ylabel="server RSS (MB)", title="Memory during the soak", ylim=(0, None))
            fig.tight_layout()
            fig.savefig(PLOTS / "soak_memory.png", dpi=110)
            plt.close(fig)
            made.append("soak_memory.png")
    ingest = records.get("ingest", {}).get("result")
    if ingest:
        sizes = ingest["sizes"]
        fig, ax = plt.subplots(figsize=(6, 3.8))
        ax.plot([r["documents"] for r in sizes], [r["chunks_per_s"] for r in sizes], marker="o",
                label="ingest, vectors from the cache")
        if ingest.get("cold_model"):
            ax.axhline(ingest["cold_model"]["chunks_per_s"], color="red", linestyle="--",
                       label=f"the model alone, empty cache ({ingest['cold_model']['chunks_per_s']} chunks/s)")
        ax.set(xlabel="documents", ylabel="chunks/s", title="Ingestion rate against corpus size", ylim=(1, None),
               yscale="log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(PLOTS / "ingest_rate_vs_size.png", dpi=110)
        plt.close(fig)
        made.append("ingest_rate_vs_size.png")
    return made


def render() -> None:
    records = {name: json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
               for name in BENCHMARKS if (RESULTS / f"{name}.json").exists()}
    made = plots(records)
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`python benchmarks/run_all.py`) from the numbers the benchmarks printed; do "
             "not edit by hand. Earlier analysis of these numbers, with the reasoning behind the design choices "
             "they led to: [ANALYSIS.md](ANALYSIS.md).", ""]
    machines = {json.dumps(r["machine"], sort_keys=True) for r in records.values()}
    for m in machines:
        m = json.loads(m)
        lines.append(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB, Python {m['python']}, "
                     f"{m['system']}")
    lines.append("")
    for name in made:
        lines += [f"![{name}](plots/{name})", ""]
    for name, (script, _, _) in BENCHMARKS.items():
        lines += [f"## {name}", "", _doc(script), ""]
        record = records.get(name)
        if record is None:
            lines += ["_Not run yet._", ""]
            continue
        lines += [f"`{record['command']}` — {record['ran_at']}, {record['seconds']} s"
                  + (" — **quick run, not for comparison**" if record.get("quick") else ""), ""]
        if "failed" in record:
            lines += ["**Failed** on this run:", "", "```", *record["failed"], "```", ""]
            continue
        for title, rows in _row_tables(record["result"]):
            lines += [f"**{title}**", "", *_table(rows), ""]
        flat = _flatten(record["result"])
        if flat:
            lines += ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in flat), ""]
    (HERE / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {HERE / 'README.md'} and {len(made)} plots")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS))
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not args.render_only:
        for name in args.only or BENCHMARKS:
            run(name, args.quick)
    render()


if __name__ == "__main__":
    main()
