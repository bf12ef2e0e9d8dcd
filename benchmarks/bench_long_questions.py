"""What a long or pathological question costs retrieval: random Chinese text of 50, 160 and 500
characters searched over the bundled corpus's evaluation index, with the dense query bounded at
RETRIEVAL_MAX_EMBEDDED_CHARS (what the service does) and, in the same run, unbounded (what it did).

    python benchmarks/bench_long_questions.py [--questions 20] [--json]

30 such questions a minute are allowed anonymously: the bound is what keeps them from costing the
model's full price each.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# common characters of Chinese text, in no order a question would have
CHARACTERS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
              "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好"
              "应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=20, help="random questions of each length")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.questions)
    for row in results["rows"]:
        print(f"{row['chars']:4} characters  bounded p50 {row['bounded']['p50']:.0f} / p95 {row['bounded']['p95']:.0f} ms"
              f"   unbounded p50 {row['unbounded']['p50']:.0f} / p95 {row['unbounded']['p95']:.0f} ms")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


def run(n: int) -> dict:
    from app.config import Settings
    from app.evaluation import evaluation_services
    from benchmarks.bench_embedded import percentile

    settings = Settings()
    services = evaluation_services([REPO / p for p in settings.ingest.corpus_paths], settings, None)
    retriever, bound = services.retriever, services.retriever.max_embedded_chars
    draw = random.Random(23)
    rows = []
    try:
        retriever.search_detailed("预热")
        for chars in (50, 160, 500):
            timings: dict[str, list[float]] = {"bounded": [], "unbounded": []}
            for _ in range(n):
                # a question of its own each time: the query-vector cache must not answer for the model
                question = "".join(draw.choice(CHARACTERS) for _ in range(chars))
                for name, limit in (("bounded", bound), ("unbounded", 10**6)):
                    retriever.max_embedded_chars = limit
                    clock = time.perf_counter()
                    retriever.search_detailed(question + name)
                    timings[name].append((time.perf_counter() - clock) * 1000)
            rows.append({"chars": chars, **{name: {"p50": percentile(v, 0.5), "p95": percentile(v, 0.95)}
                                            for name, v in timings.items()}})
    finally:
        retriever.max_embedded_chars = bound
        services.close()
    return {"questions_per_length": n, "max_embedded_chars": bound, "rows": rows}


if __name__ == "__main__":
    main()
