"""What the learned answer selector costs beside the hand-weighted composer it replaced, in one run over
the same retrieved sources: the extractive step's time per question with each, p50 / p95, and the
difference per question.

    python benchmarks/bench_selector.py [--questions 300] [--json]

Questions are the project's question bank (tests/data/bank, both splits: this measures time, not
quality); the index is the bundled corpus's evaluation index (built once, then reused).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.questions)
    for name in ("hand", "selector", "added"):
        ms = results[f"{name}_ms"]
        print(f"{name:9} p50 {ms['p50']:.2f} ms  p95 {ms['p95']:.2f} ms")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


def run(n: int) -> dict:
    from app.answering.selector import SentenceSelector
    from app.config import Settings
    from app.domain import SearchFilters
    from app.evaluation import ask, evaluation_services, load_bank_questions
    from benchmarks.bench_embedded import percentile

    settings = Settings()
    services = evaluation_services([REPO / p for p in settings.ingest.corpus_paths], settings, None)
    try:
        steps = [s for s in services.pipeline.steps if s.name in ("check_question", "rewrite_question",
                                                                    "read_question", "retrieve")]
        composer = next(s.composer for s in services.pipeline.steps if s.name == "extract_answer")
        selector = composer.selector or SentenceSelector.load(settings.answer.selector_model)

        def prepared(ctx):
            for step in steps:
                if ctx.stopped:
                    break
                step(ctx)
            return ctx

        hand, learned, added = [], [], []
        for q in load_bank_questions()[:n]:
            ctx = ask(services, q.question, q.history, SearchFilters(), channel="bench", run=prepared)
            if ctx.stopped or not ctx.sources:
                continue
            timings = {}
            for name, chosen in (("hand", None), ("selector", selector)):
                composer.selector = chosen
                clock = time.perf_counter()
                composer.compose(ctx.search_question, ctx.sources, ctx.terms, ctx.kinds)
                timings[name] = (time.perf_counter() - clock) * 1000
            hand.append(timings["hand"])
            learned.append(timings["selector"])
            added.append(timings["selector"] - timings["hand"])
        composer.selector = selector
    finally:
        services.close()

    def summary(values: list[float]) -> dict:
        return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)}

    return {"questions": len(hand), "hand_ms": summary(hand), "selector_ms": summary(learned),
            "added_ms": summary(added)}


if __name__ == "__main__":
    main()
