"""`jingce eval …`: retrieval, answers, hotline tickets and routing measured on question sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from app.config import REPO_ROOT

from app.cli.common import eval_app, console, _settings


@eval_app.command("retrieval")
def eval_retrieval(corpus: Path = typer.Option(..., exists=True, dir_okay=False, help="JSONL {docid, text}"),
                   questions: Path = typer.Option(..., exists=True, dir_okay=False,
                                                  help="JSONL {qid, question, gold_docid}"),
                   index_dir: Optional[Path] = typer.Option(None, help="Where evaluation indexes are kept."),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Recall@1/5/10, MRR@10, nDCG@10 at document level: hybrid, BM25-only and dense-only in one run."""
    from app.evaluation import run_retrieval_eval

    settings = _settings()
    result = run_retrieval_eval(corpus, questions, settings, index_dir, progress=lambda m: console.print(m))
    table = Table(title=f"retrieval: {result['questions']} questions, {result['chunks']} chunks")
    table.add_column("method")
    keys = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    for key in keys:
        table.add_column(key, justify="right")
    fusion = settings.retrieval.fusion
    for mode, label in (("hybrid", f"hybrid ({fusion})"), ("bm25", "bm25 only"), ("dense", "dense only"),
                        ("hybrid_rrf", "hybrid (rrf, for comparison)")):
        table.add_row(label, *[f"{result[mode][k]:.3f}" for k in keys])
    Console().print(table)
    Console().print(f"hybrid latency p50 {result['latency_ms']['p50']:.1f} ms, p95 {result['latency_ms']['p95']:.1f} ms")
    if as_json:
        print(json.dumps(result, ensure_ascii=False))


@eval_app.command("answers")
def eval_answers(questions: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                          help="JSONL: {qid, question, gold_docid, answer} (COVID "
                                                               "set) or {qid, question, history, gold_doc_ids, "
                                                               "must_contain, kind} (residents' set); default: the "
                                                               "project's question bank, tests/data/bank"),
                 split: str = typer.Option("all", help="Of the question bank: train, test, or all (train and "
                                                       "test side by side)."),
                 corpus: Optional[list[Path]] = typer.Option(None, exists=True, help="JSONL {docid, text} or "
                                                             "folders; default: the bundled corpus"),
                 unanswerable: Optional[list[Path]] = typer.Option(None, exists=True, dir_okay=False,
                                                                   help="Questions the corpus cannot answer, one "
                                                                        "per line (repeatable)."),
                 index_dir: Optional[Path] = typer.Option(None),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Answers every question. COVID set: answer recall, citation precision, sentence support.
    Residents' set and the question bank: correct, answered, cites a gold document, holds the facts,
    by kind, answer length; near misses refused and answered. All: refusal rates and latency."""
    from app.evaluation import BANK_KEYS, COVID_KEYS, RESIDENT_KEYS, run_answer_eval

    settings = _settings()
    paths = corpus or [REPO_ROOT / p for p in settings.ingest.corpus_paths]
    if questions is not None and split != "all":
        console.print("[red]--split is for the question bank: leave out --questions[/red]")
        raise typer.Exit(2)
    try:
        result = run_answer_eval(paths, questions, settings, index_dir, unanswerable, split=split,
                                 progress=lambda m: console.print(m))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    residents = "correct" in result
    columns = result.get("by_split") or {result.get("split") or "questions": result}
    sizes = ", ".join(f"{name} {column['questions']}" for name, column in columns.items())
    table = Table(title=f"answers: {result['questions']} questions" + (f" ({sizes})" if "by_split" in result else ""))
    table.add_column("")
    for name in columns:
        table.add_column(name)
    shown = (("correct", "answered", "cites_gold_doc", "first_citation_gold", "has_facts", "citation_precision",
              "sentence_support") if residents else
             ("answer_recall", "citation_precision", "sentence_support", "refusal_rate"))
    for key in shown:
        table.add_row(key, *(f"{c[key]:.3f}" for c in columns.values()))
    if any("near_miss" in c for c in columns.values()):
        table.add_row("near misses answered (false)", *(
            f"{c['near_miss']['false_answer_rate']:.3f} of {c['near_miss']['questions']}" if "near_miss" in c else "-"
            for c in columns.values()))
    if residents:
        kinds = sorted({k for c in columns.values() for k in c["by_kind"]})
        for kind in kinds:
            table.add_row(f"  {kind}", *(f"{c['by_kind'][kind]:.2f}" if kind in c["by_kind"] else "-"
                                         for c in columns.values()))
    table.add_row("median answer", *(f"{c['median_answer_chars']} characters" for c in columns.values()))
    table.add_row("latency p50 / p95", *(f"{c['latency_ms']['p50']:.1f} / {c['latency_ms']['p95']:.1f} ms"
                                         for c in columns.values()))
    table.add_row("statuses", *(", ".join(f"{k} {v}" for k, v in sorted(c["statuses"].items()))
                                for c in columns.values()))
    Console().print(table)
    for name, rate in result["unanswerable_by_file"].items():
        Console().print(f"refused of {name}: {rate:.3f}")
    if as_json:
        keys = BANK_KEYS if questions is None else RESIDENT_KEYS if residents else COVID_KEYS
        print(json.dumps({k: result[k] for k in keys if k in result}, ensure_ascii=False))


@eval_app.command("tickets")
def eval_tickets(split: str = typer.Option("test", help="test: fitted on the train tickets, scored on the held-out "
                                                        "ones; train: 5-fold cross-validation inside train"),
                 tickets: Optional[Path] = typer.Option(None, exists=True, help="Labelled tickets (a JSONL file or a "
                                                        "folder of them); default ROUTING_TRAIN_PATH."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """The router end to end on the project's labelled tickets (policies/hotline/tickets/): lead
    handler, category, street and district found, review share."""
    from app.composition import build_embedder
    from app.routing.catalogue import load_ranking_policy
    from app.routing.categories import load_categories
    from app.routing.ticket_eval import run_ticket_eval

    settings = _settings()
    cfg = settings.routing
    path = tickets or cfg.train_path
    try:
        result = run_ticket_eval(build_embedder(settings), cfg, load_ranking_policy(cfg.ranking_path),
                                 load_categories(cfg.categories_path), Path(path), split,
                                 progress=lambda m: console.print(m))
    except (ValueError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    out = Console()
    table = Table(title=f"tickets: {result['mode']}")
    table.add_column("")
    table.add_column("value", justify="right")
    for key in ("lead", "lead_up_to_district", "category", "category_level1", "street_found", "district_found",
                "review_share", "lead_not_reviewed"):
        value = result[key]
        table.add_row(key.replace("_", " "), "—" if value is None else f"{value:.3f}")
    for kind, value in result["lead_by_kind"].items():
        table.add_row(f"  lead, {kind}", "—" if value is None else f"{value:.3f}")
    out.print(table)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))


@eval_app.command("routing")
def eval_routing(train: Path = typer.Option(..., exists=True, dir_okay=False,
                                            help="Labelled messages, JSONL: 留言主题, 留言详情, 一级分类"),
                 messages: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                         help="Labelled messages to predict (held out)."),
                 cv: Optional[int] = typer.Option(None, min=2, max=20, help="K-fold cross-validation on --train."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Level-1 category accuracy, macro-F1, per-class precision/recall, confusion matrix, and the share
    of tickets sent to review with the accuracy of the rest."""
    from app.composition import build_embedder
    from app.routing.catalogue import load_taxonomy
    from app.routing.classifier import Featurizer
    from app.routing.evaluation import run_routing_eval

    settings = _settings()
    if messages is None and cv is None:
        console.print("[red]give --messages FILE, or --cv K[/red]")
        raise typer.Exit(2)
    featurizer = Featurizer(build_embedder(settings), load_taxonomy(settings.routing.taxonomy_path))
    try:
        result = run_routing_eval(featurizer, train, messages, cv, settings.routing.review_target,
                                  progress=lambda m: console.print(m))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    out = Console()
    table = Table(title=f"routing: {result['mode']}, {result['messages']} messages")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, m in result["per_class"].items():
        table.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(table)
    labels = result["confusion"]["labels"]
    matrix = Table(title="confusion (rows: true, columns: predicted)")
    matrix.add_column("")
    for label in labels:
        matrix.add_column(label[:4], justify="right")
    for label, row in zip(labels, result["confusion"]["matrix"]):
        matrix.add_row(label, *map(str, row))
    out.print(matrix)
    kept = result["accuracy_not_reviewed"]
    out.print(f"accuracy {result['accuracy']:.3f} · macro-F1 {result['macro_f1']:.3f} · sent to review "
              f"{result['review_share']:.1%} · accuracy of the rest {'—' if kept is None else f'{kept:.3f}'}")
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
