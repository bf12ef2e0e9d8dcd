"""What the citizen widget costs a resident: its size on the wire (gzip) and, in a real browser, the time
from pressing Enter to the first answer text on screen and to the complete answer — residents'
questions (../shared/corpus/beijing-qa) asked through the widget on /demo, served by `jingce serve`
over the bundled corpus (embedded default, extractive answers) on loopback.

    python benchmarks/bench_widget.py [--questions 30] [--json]

Needs Debian's chromium (`apt-get install chromium`); the timings are the widget's own performance
marks (jingce:ask → jingce:first-delta → jingce:done), so they include the browser's work.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from app.api.pages import STATIC  # noqa: E402
from benchmarks.bench_embedded import percentile  # noqa: E402
from benchmarks.served import served_bundled_corpus  # noqa: E402

RESIDENTS = REPO.parent / "shared" / "corpus" / "beijing-qa" / "questions.dev.jsonl"


def sizes() -> dict[str, int]:
    raw = (STATIC / "widget.js").read_bytes()
    return {"widget_js_bytes": len(raw), "widget_js_gzip_bytes": len(gzip.compress(raw, 9))}


def browse(base: str, questions: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    first, done, statuses = [], [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        page.goto(base + "/demo")
        load_ms = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
        page.get_by_role("button", name="政策咨询", exact=True).click()
        for n, question in enumerate(questions, 1):
            page.evaluate("() => performance.clearMarks()")
            page.get_by_label("您的问题").fill(question)
            page.get_by_label("您的问题").press("Enter")
            answer = page.locator(".msg.bot[data-status], .msg.bot.failed").nth(n - 1)
            answer.wait_for(timeout=60_000)
            marks = page.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark')"
                                  ".map(m => [m.name, m.startTime]))")
            status = answer.get_attribute("data-status") or "failed"
            statuses[status] = statuses.get(status, 0) + 1
            if "jingce:done" in marks:
                done.append(marks["jingce:done"] - marks["jingce:ask"])
            if "jingce:first-delta" in marks:  # refusals have no streamed sentence
                first.append(marks["jingce:first-delta"] - marks["jingce:ask"])
        browser.close()

    def summary(values: list[float]) -> dict[str, float | int]:
        return {"n": len(values), "p50": round(percentile(values, 0.5), 1), "p95": round(percentile(values, 0.95), 1)} \
            if values else {"n": 0}

    return {"demo_page_load_ms": round(load_ms, 1), "first_answer_text_ms": summary(first),
            "complete_answer_ms": summary(done), "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in RESIDENTS.read_text(encoding="utf-8").splitlines()
                 if line.strip()][:args.questions]
    results = sizes()
    # one browser asks them all, faster than a resident would: no per-minute limit for the run
    with served_bundled_corpus({"AUTH_CITIZEN_PER_MINUTE": "0", "AUTH_ADDRESS_PER_MINUTE": "0"}) as base:
        results.update(browse(base, questions))
    print(f"widget.js: {results['widget_js_bytes']:,} bytes, {results['widget_js_gzip_bytes']:,} gzipped")
    print(f"/demo loaded in {results['demo_page_load_ms']} ms")
    for name in ("first_answer_text_ms", "complete_answer_ms"):
        r = results[name]
        print(f"{name}: p50 {r.get('p50')} ms, p95 {r.get('p95')} ms over {r['n']} questions")
    print(f"statuses: {results['statuses']}")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
