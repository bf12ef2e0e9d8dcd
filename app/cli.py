"""`jingce`: ingest, search, stats, serve, eval. Settings come from the environment / `.env`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from app.clients.vector_store import CHUNKS
from app.config import REPO_ROOT, Settings, get_settings
from app.domain import SearchFilters

app = typer.Typer(help="京策助手 — Beijing policy retrieval.", no_args_is_help=True, add_completion=False)
eval_app = typer.Typer(help="Measure retrieval quality on a question set.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
train_app = typer.Typer(help="Fit the learned parts: answer ranking and answerability (on the dev questions), routing.",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")
vectors_app = typer.Typer(help="The ready-made vectors of the bundled corpus shipped with the repository.",
                          no_args_is_help=True)
app.add_typer(vectors_app, name="vectors")
audit_app = typer.Typer(help="The audit log: prove it intact, write its head down, apply retention, migrate.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="API keys: create (the key is shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
_SHARED = REPO_ROOT.parent / "shared" / "corpus"
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _services(settings: Settings, audit_only: bool = False):
    """Everything (or only the audit store); a part that cannot start is an exit 2 with its reason."""
    from app.composition import build_audit, build_services

    try:
        return build_audit(settings) if audit_only else build_services(settings)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


class _ChunkRateColumn(ProgressColumn):
    def render(self, task) -> Text:
        elapsed = task.elapsed or 0
        rate = task.fields.get("chunks", 0) / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} chunks/s")


class _RichProgress:
    """Documents, chunks and rate on one bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.task, self.chunks = progress, None, 0

    def start(self, total_documents: int) -> None:
        self.task = self.progress.add_task("ingest", total=total_documents, chunks=0)

    def advance(self, documents: int, chunks: int) -> None:
        self.chunks += chunks
        self.progress.update(self.task, advance=documents, chunks=self.chunks)


class _LogProgress:
    """Without a terminal (`make run > log 2>&1`): a line every `every` seconds with what is done of the
    total, the rate and the time left, so a long first ingest or training is not minutes of silence."""

    def __init__(self, label: str = "ingest", unit: str = "documents", to_do: str = "to check", every: float = 5.0,
                 out=sys.stderr) -> None:
        self.label, self.unit, self.to_do, self.every, self.out = label, unit, to_do, every, out
        self.total = self.done = self.chunks = 0
        self.started = self.last = time.monotonic()

    def start(self, total: int) -> None:
        self.total = total
        self.started = self.last = time.monotonic()
        print(f"{self.label}: {total} {self.unit} {self.to_do}", file=self.out, flush=True)

    def advance(self, done: int, chunks: int = 0) -> None:
        self.done += done
        self.chunks += chunks
        now = time.monotonic()
        if now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        left = (self.total - self.done) * elapsed / max(self.done, 1)
        written = f", {self.chunks} chunks written, {self.chunks / elapsed:.1f} chunks/s" if self.chunks else \
            f", {self.done / elapsed:.1f} {self.unit}/s"
        print(f"{self.label}: {self.done}/{self.total} {self.unit}{written}, {elapsed:.0f} s elapsed, "
              f"about {left:.0f} s left", file=self.out, flush=True)


@app.command()
def ingest(paths: list[Path] = typer.Argument(None, help="Files or folders; default: the bundled corpus."),
           prune: bool = typer.Option(True, help="Remove documents that disappeared from the given paths."),
           distributed: bool = typer.Option(False, "--distributed", help="Queue the work in batches for "
                                            "`jingce worker` processes (INGEST_QUEUE_URL) and wait for them."),
           as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Sync documents into the index: unchanged ones are skipped, changed ones rewritten, deleted ones removed."""
    settings = _settings()
    targets = [str(p) for p in paths] if paths else settings.ingest.corpus_paths
    missing = [p for p in targets if not Path(p).exists()]
    if missing:
        console.print(f"[red]no such file or folder:[/red] {', '.join(missing)}")
        raise typer.Exit(2)
    if distributed:
        from app.distributed_ingest import distributed_sync

        audit = _services(settings, audit_only=True)
        try:
            report = distributed_sync(targets, settings, prune=prune, progress=_LogProgress())
            _record_ingest(audit, report, targets, prune, distributed)
        except RuntimeError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        finally:
            audit.close()
    else:
        services = _services(settings)
        try:
            if not console.is_terminal:
                report = services.indexer.sync(targets, prune=prune, progress=_LogProgress())
            else:
                columns = [TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("docs"),
                           TextColumn("{task.fields[chunks]} chunks"), _ChunkRateColumn(), TimeElapsedColumn()]
                with Progress(*columns, console=console) as bar:
                    report = services.indexer.sync(targets, prune=prune, progress=_RichProgress(bar))
            _record_ingest(services.audit, report, targets, prune, distributed)
        finally:
            services.close()
    summary = report.as_dict()
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_report(summary)
    if report.interrupted:
        console.print("[yellow]interrupted: the index is consistent; run the same command again to finish.[/yellow]")
        raise typer.Exit(130)


def _record_ingest(audit, report, targets: list[str], prune: bool, distributed: bool) -> None:
    from app.audit.store import AuditEvent

    audit.record(AuditEvent("admin", "cli", "interrupted" if report.interrupted else "ingested",
                            details={"paths": targets, "prune": prune, "distributed": distributed,
                                     **report.as_dict()}))


@app.command()
def worker(burst: bool = typer.Option(False, help="Exit when the queue is empty instead of waiting for more."),
           metrics_port: Optional[int] = typer.Option(None, help="Serve this worker's Prometheus metrics "
                                                                 "(documents, chunks, failed batches) on this port.")) -> None:
    """Take ingestion batches from the queue (INGEST_QUEUE_URL): parse, chunk, embed, write."""
    from app.distributed_ingest import run_worker

    settings = _settings()
    try:
        run_worker(settings, burst=burst, metrics_port=metrics_port)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _print_report(summary: dict) -> None:
    table = Table(title="ingest summary", show_header=False)
    for key in ("added", "updated", "removed", "skipped"):
        table.add_row(key, str(summary[key]))
    table.add_row("failed", str(len(summary["failed"])))
    table.add_row("chunks written", str(summary["chunks_written"]))
    table.add_row("chunks embedded (not cached)", str(summary["chunks_embedded"]))
    secs = summary["seconds"]
    written = summary["chunks_written"]
    busy = sum(secs.values())
    table.add_row("time", ", ".join(f"{k} {v:.1f}s" for k, v in secs.items()))
    if written and busy:
        table.add_row("rate", f"{written / busy:.1f} chunks/s")
    console.print(table)
    for item in summary["failed"]:
        console.print(f"[red]failed[/red] {item['source']}: {item['reason']}")


def _filters(include_not_in_force: bool, issuer: Optional[str], district: Optional[str], level: Optional[str],
             published_from: Optional[str], published_to: Optional[str], doc_id: Optional[list[str]]) -> SearchFilters:
    from ingestion.metadata import parse_date

    for label, value in (("--from", published_from), ("--to", published_to)):
        if value and not parse_date(value):
            console.print(f"[red]{label}: not a date:[/red] {value} (use YYYY-MM-DD)")
            raise typer.Exit(2)
    return SearchFilters(include_not_in_force=include_not_in_force, issuer=issuer, district=district, level=level,
                         published_from=parse_date(published_from), published_to=parse_date(published_to),
                         doc_ids=doc_id or None)


@app.command()
def search(question: str,
           top_k: int = typer.Option(5, "--top-k", "-k", min=1, max=50),
           as_json: bool = typer.Option(False, "--json"),
           include_not_in_force: bool = typer.Option(False, "--include-not-in-force",
                                                help="Also return documents known to be expired, repealed or amended."),
           issuer: Optional[str] = typer.Option(None, help="发文机关, e.g. 北京市民政局"),
           district: Optional[str] = typer.Option(None, help="e.g. 朝阳区"),
           level: Optional[str] = typer.Option(None, help="国家 | 市级 | 区级"),
           published_from: Optional[str] = typer.Option(None, "--from", help="published on or after, YYYY-MM-DD"),
           published_to: Optional[str] = typer.Option(None, "--to", help="published on or before, YYYY-MM-DD"),
           doc_id: Optional[list[str]] = typer.Option(None, "--doc-id")) -> None:
    """Hybrid search over the index."""
    settings = _settings()
    filters = _filters(include_not_in_force, issuer, district, level, published_from, published_to, doc_id)
    services = _services(settings)
    try:
        hits = services.retriever.search(question, top_k=top_k, filters=filters)
        empty_index = not hits and services.store.count(CHUNKS) == 0
    finally:
        services.close()
    if as_json:
        from app.api.schemas import SearchHitOut

        print(json.dumps([SearchHitOut.from_hit(h).model_dump() for h in hits], ensure_ascii=False))
        return
    if not hits:
        console.print("the index is empty: run `jingce ingest` first" if empty_index else "no results")
    for rank, hit in enumerate(hits, start=1):
        doc = hit.document
        validity = doc.get("validity") or "未知"
        console.print(f"[bold]{rank}. {doc.get('title')}[/bold]  {doc.get('doc_number') or ''}  [{validity}]  "
                      f"score {hit.score:.4f}")
        console.print(f"   {' > '.join(hit.heading_path)}  chars {hit.start}–{hit.end}  {doc.get('source_url') or ''}")
        console.print(f"   {hit.text[:160]}")


@app.command()
def ask(question: str, as_json: bool = typer.Option(False, "--json"),
        include_not_in_force: bool = typer.Option(False, "--include-not-in-force")) -> None:
    """Answer a question from the index, with a citation on every sentence (or a refusal)."""
    from app.api.schemas import ChatResponse
    from app.pipeline.outcome import answer_outcome
    from app.pipeline.context import AnswerContext

    settings = _settings()
    services = _services(settings)
    try:
        ctx = services.pipeline.run(AnswerContext(question, channel="cli",
                                                  filters=SearchFilters(include_not_in_force=include_not_in_force)))
    finally:
        services.close()
    response = ChatResponse.of(answer_outcome(ctx))
    if as_json:
        print(response.model_dump_json())
        return
    Console().print(response.answer)
    for source in response.sources:
        doc = source.document
        Console().print(f"[{source.number}] {doc.title}  {doc.doc_number or ''}  {doc.issuer or ''}  "
                        f"{doc.published or ''}  [{doc.validity}]  {doc.source_url or ''}")
    console.print(f"status {response.status} · audit {response.audit_id}")


@app.command()
def stats() -> None:
    """What the index holds: documents, chunks, by validity and issuer level."""
    settings = _settings()
    services = _services(settings)
    try:
        states = services.store.doc_states()
        by_validity: dict[str, int] = {}
        by_level: dict[str, int] = {}
        seen: set[str] = set()
        for _, payload in services.store.scroll_payloads(CHUNKS, fields=["doc_id", "validity", "level"]):
            if payload["doc_id"] in seen:
                continue
            seen.add(payload["doc_id"])
            by_validity[payload.get("validity") or "未知"] = by_validity.get(payload.get("validity") or "未知", 0) + 1
            by_level[payload.get("level") or "未知"] = by_level.get(payload.get("level") or "未知", 0) + 1
        result = {"documents": len(states), "chunks": services.store.count(CHUNKS),
                  "incomplete_documents": sorted(d for d, s in states.items() if not s.complete),
                  "by_validity": by_validity, "by_level": by_level,
                  "store": settings.qdrant.url or str(settings.store_path),
                  "embedder": services.embedder.model_id}
    finally:
        services.close()
    print(json.dumps(result, ensure_ascii=False, indent=2))


@app.command()
def serve(host: Optional[str] = typer.Option(None), port: Optional[int] = typer.Option(None),
          workers: int = typer.Option(1, min=1, help="Worker processes; more than one needs the Qdrant server "
                                                     "(QDRANT_URL): an embedded store belongs to one process.")) -> None:
    """Run the HTTP API. SIGTERM stops taking connections and lets open answers finish (SERVER_GRACEFUL_S)."""
    import uvicorn

    from app.api.logs import uvicorn_log_config

    settings = _settings()
    if workers > 1 and not settings.qdrant.url:
        console.print("[red]--workers above 1 needs QDRANT_URL:[/red] the embedded store (Qdrant Edge or a "
                      "local folder) admits one process; run one worker, or point every worker at a Qdrant server.")
        raise typer.Exit(2)
    proxies = settings.server.trusted_proxies  # uvicorn would otherwise believe any local caller's X-Forwarded-For
    uvicorn.run("app.api.main:create_app", factory=True, host=host or settings.server.host,
                port=port or settings.server.port, workers=workers, proxy_headers=bool(proxies),
                forwarded_allow_ips=",".join(proxies) or None, access_log=False,
                log_config=uvicorn_log_config(settings.server.log_format),
                timeout_graceful_shutdown=settings.server.graceful_s)


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


@app.command()
def route(text: str, address: Optional[str] = typer.Option(None, help="The address the caller confirmed."),
          no_draft: bool = typer.Option(False, "--no-draft", help="Skip the reply draft."),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Suggest who should handle a hotline ticket (主办 first, then 协办), and why. Recorded."""
    from app.api.routes_tickets import Suggestion
    from app.routing.service import InvalidTicket

    settings = _settings()
    services = _services(settings)
    try:
        suggestion = services.routing.suggest(text, address, channel="cli", draft_reply=not no_draft)
    except InvalidTicket as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    if as_json:
        print(Suggestion.of(suggestion).model_dump_json())
        return
    out = Console()
    category = suggestion.category
    if category:
        out.print(f"category: {category.level1} › {category.level2} › {category.level3} ({category.confidence:.2f})")
    place = suggestion.place
    if place.district or place.street:
        out.print(f"place: {place.district or ''} {place.street or ''}")
    for d in suggestion.departments:
        why = "、".join(d.matched_keywords) or "; ".join(d.responsibilities[:1])
        out.print(f"{d.role} {d.department.name}  {why}")
    if suggestion.needs_review:
        out.print("[yellow]needs review:[/yellow] " + "; ".join(suggestion.review_reasons))
    for part in suggestion.left_out:
        out.print(f"[yellow]left out:[/yellow] {part}")
    draft = suggestion.reply_draft
    if draft and not draft.refusal:
        out.print(f"reply draft: {draft.answer}")
    console.print(f"suggestion {suggestion.id} · audit {suggestion.audit_id}")


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


_COVID_CORPUS = typer.Option(_SHARED / "ncp-policy-qa" / "documents.jsonl", help="COVID-period documents (JSONL).")
_COVID_QUESTIONS = typer.Option(_SHARED / "ncp-policy-qa" / "questions.dev.jsonl", help="Their dev questions.")
_BANK_SPLIT = typer.Option("train", help="The question bank's split to fit on (tests/data/bank); the test split "
                                         "is for scoring only.")


def _dev_sets(settings: Settings, covid_corpus: Path, covid_questions: Path, bank_split: str):
    from app.training import dev_sets

    for path in (covid_corpus, covid_questions):
        if not path.exists():
            console.print(f"[red]not found: {path}[/red]")
            raise typer.Exit(2)
    if bank_split not in ("train", "all"):
        console.print("[red]fit on the bank's train split (or all of it, knowingly): never on test alone[/red]")
        raise typer.Exit(2)
    return dev_sets(covid_corpus, covid_questions, [REPO_ROOT / p for p in settings.ingest.corpus_paths], bank_split)


@train_app.command("selector")
def train_selector_command(covid_corpus: Path = _COVID_CORPUS, covid_questions: Path = _COVID_QUESTIONS,
                           bank_split: str = _BANK_SPLIT, folds: int = typer.Option(5, min=2, max=20),
                           ablation: bool = typer.Option(True, help="Fit the folds again without each feature "
                                                                    "group and report the loss."),
                           out: Optional[Path] = typer.Option(None, help="Default: ANSWER_SELECTOR_MODEL."),
                           index_dir: Optional[Path] = typer.Option(None)) -> None:
    """Fit the answer selector (which sentence the extractive answer quotes) on the question bank's
    train split and the COVID answer spans; prints cross-validated top-sentence accuracy beside the
    hand-weighted score's, and per feature group what leaving it out costs; writes the model."""
    from app.training import collect, selector_rows, train_selector

    settings = _settings()
    target = out or settings.answer.selector_model or REPO_ROOT / "models" / "answer_selector.json"
    # candidates and features are read without a selector (the hand score is the baseline beside it)
    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={"selector_model": None})})
    sets = _dev_sets(settings, covid_corpus, covid_questions, bank_split)
    rows = collect(sets, settings, index_dir, selector_rows, progress=lambda m: console.print(m))
    selector = train_selector(rows, folds, ablation, progress=lambda m: console.print(m))
    selector.save(target)
    print(json.dumps(selector.report, ensure_ascii=False))
    console.print(f"wrote {target}")


@train_app.command("ranker")
def train_ranker_command(covid_corpus: Path = _COVID_CORPUS, covid_questions: Path = _COVID_QUESTIONS,
                         bank_split: str = _BANK_SPLIT,
                         folds: int = typer.Option(5, min=2, max=20),
                         out: Optional[Path] = typer.Option(None, help="Default: ANSWER_RANKER_MODEL, else "
                                                            "models/doc_ranker.json."),
                         index_dir: Optional[Path] = typer.Option(None)) -> None:
    """Fit the document ranker on the dev questions; prints cross-validated recall@1 / MRR@10
    beside the fused search's, then writes the model."""
    from app.training import collect, ranker_rows, train_ranker

    settings = _settings()
    target = out or settings.answer.ranker_model or REPO_ROOT / "models" / "doc_ranker.json"
    # candidates as the fused search ranks them, whatever ranker is configured now
    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={"ranker_model": None})})
    sets = _dev_sets(settings, covid_corpus, covid_questions, bank_split)
    rows = collect(sets, settings, index_dir, lambda s, dev: ranker_rows(s, dev, settings.answer.candidates),
                   progress=lambda m: console.print(m))
    model = train_ranker(rows, folds)
    model.save(target)
    print(json.dumps(model.report, ensure_ascii=False))
    console.print(f"wrote {target}")


@train_app.command("answerability")
def train_answerability_command(covid_corpus: Path = _COVID_CORPUS, covid_questions: Path = _COVID_QUESTIONS,
                                bank_split: str = _BANK_SPLIT,
                                unanswerable: list[Path] = typer.Option(
                                    [REPO_ROOT / "tests" / "data" / "unanswerable.txt",
                                     REPO_ROOT / "tests" / "data" / "out_of_scope.txt"],
                                    exists=True, dir_okay=False, help="Questions the corpora cannot answer."),
                                folds: int = typer.Option(5, min=2, max=20),
                                max_false_refusal: float = typer.Option(0.05, min=0.0, max=0.5, help="Out-of-fold share of answerable questions the threshold may refuse: the bank's near misses are answered less the more it may (docs/adr/0011)."),
                                min_refused: float = typer.Option(0.92, min=0.0, max=1.0, help="Out-of-fold share of each unanswerable list the threshold must refuse (raised until it does)."),
                                out: Optional[Path] = typer.Option(None, help="Default: ANSWER_ANSWERABILITY_MODEL."),
                                index_dir: Optional[Path] = typer.Option(None)) -> None:
    """Fit the answerability decision; prints cross-validated false refusals (dev sets) and false
    answers (unanswerable lists), then writes the model with its threshold."""
    from app.training import answerability_rows, collect, train_answerability

    settings = _settings()
    target = out or settings.answer.answerability_model
    # the features are read without the decision being taken (and whatever model is there now)
    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={"answerability_model": None})})
    sets = _dev_sets(settings, covid_corpus, covid_questions, bank_split)
    rows = collect(sets, settings, index_dir, lambda s, dev: answerability_rows(s, dev, unanswerable),
                   progress=lambda m: console.print(m))
    model = train_answerability(rows, folds, max_false_refusal, min_refused)
    model.save(target)
    print(json.dumps(model.report, ensure_ascii=False))
    console.print(f"wrote {target} (threshold {model.threshold:.3f})")


@train_app.command("routing")
def train_routing_command(if_changed: bool = typer.Option(False, "--if-changed",
                                                          help="Do nothing when the model was fitted on the same data.")) -> None:
    """Fit the hotline category model on ROUTING_TRAIN_PATH plus the categories agents decided, calibrate
    its review threshold, and write it where the service loads it from (a running service picks it up)."""
    from app.composition import train_routing_model

    settings = _settings()
    try:
        said = train_routing_model(settings, if_changed, progress=_LogProgress(
            "train routing", "tickets", "to embed (cached by content), then the model is fitted and calibrated"))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(said)


@vectors_app.command("pack")
def vectors_pack(out: Optional[Path] = typer.Option(None, help="Default: the configured EMBEDDING_VECTOR_PACK.")) -> None:
    """Write the vectors of every text an ingest of the bundled corpus embeds into the pack a first
    run seeds its cache with (vectors already cached are reused, the rest embedded)."""
    from app.clients.embeddings import EmbeddingCache
    from app.clients.vector_pack import VectorPack
    from app.composition import build_embedder
    from ingestion.chunking import CHUNKER_VERSION
    from ingestion.sync import embedding_texts

    settings = _settings()
    target = out or settings.embedding.vector_pack
    if target is None:
        console.print("[red]no pack path: give --out or set EMBEDDING_VECTOR_PACK[/red]")
        raise typer.Exit(2)
    i = settings.ingest
    texts = list(dict.fromkeys(embedding_texts(i.corpus_paths, int(i.max_file_mb * 2**20), i.chunk_max_chars,
                                               i.chunk_min_chars)))
    embedder = build_embedder(settings)
    clock = time.perf_counter()
    vectors = embedder.passages(texts)
    keys = [EmbeddingCache.key(embedder.model_id, t) for t in texts]
    VectorPack.write(target, embedder.model_id, keys, vectors, chunker_version=CHUNKER_VERSION,
                     corpus=list(i.corpus_paths))
    console.print(f"wrote {target}: {len(keys)} vectors of {embedder.model_id} "
                  f"({target.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - clock:.0f} s)")


def _audit(settings: Settings):
    return _services(settings, audit_only=True)


@audit_app.command("verify")
def audit_verify(from_seq: Optional[int] = typer.Option(None, "--from", min=1, help="Start at this sequence "
                                                        "number (trusting the chain before it)."),
                 anchors: Optional[Path] = typer.Option(None, help="File of signed heads to check against (default "
                                                        "AUDIT_ANCHOR_FILE)."),
                 public_key: Optional[Path] = typer.Option(None, help="Check the signatures with this published key "
                                                           "(PEM) instead of the service's own; no private key read."),
                 as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Walk the hash chain and check its signed heads and seals; report the first wrong sequence number
    (edited, deleted, inserted, reordered, rewritten and rehashed, appended without the key, a tail cut
    off, heads deleted) with its event id, and how many events are not yet under a signed head. Exit
    code 1 when broken."""
    from app.audit.heads import HeadVerifier
    from app.audit.verify import verify_database

    settings = _settings()
    heads = anchors or settings.audit_anchor_file
    if public_key is not None:
        report = verify_database(settings.database_url, HeadVerifier.from_pem(public_key.read_bytes()), heads, from_seq)
    else:
        audit = _audit(settings)
        try:
            report = verify_database(settings.database_url, audit.heads.signer, heads, from_seq)
        finally:
            audit.close()
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    elif report["ok"]:
        console.print(f"[green]intact[/green]: {report['checked']} events ({report['first_seq']}…{report['head_seq']}), "
                      f"{report['heads_checked']} signed heads (key {report['key_id']}), {report['unsigned'] or 0} "
                      f"events after the last, {report['anchors_checked']} unsigned anchors, {report['seconds']:.1f} s"
                      + "".join(f"; {n}" for n in report["notes"]))
    else:
        b = report["first_break"]
        console.print(f"[red]broken ({b['kind']})[/red] at sequence {b['seq']}, event {b['event_id']}: {b['detail']} "
                      f"({report['checked']} events checked)")
    if not report["ok"]:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(file: Optional[Path] = typer.Option(None, help="Also append the head to this file, besides "
                                                     "AUDIT_ANCHOR_FILE; keep it where the database's "
                                                     "administrators cannot rewrite it.")) -> None:
    """Sign the chain's head now (the service does so every AUDIT_HEAD_EVERY_EVENTS events or
    AUDIT_HEAD_EVERY_SECONDS) and print it."""
    from app.audit.heads import append_heads

    settings = _settings()
    audit = _audit(settings)
    try:
        head = audit.anchor()
    finally:
        audit.close()
    if file is not None and file != settings.audit_anchor_file:
        append_heads(file, [head])
    print(json.dumps(head))


@audit_app.command("public-key")
def audit_public_key(out: Optional[Path] = typer.Option(None, "--out", help="Write it to this file too.")) -> None:
    """Print the public key (PEM) that checks the chain's seals and signed heads: publish it to auditors,
    who verify with `python -m app.audit.verify --public-key FILE` without the service."""
    from app.audit.heads import load_signer

    settings = _settings()
    pem = load_signer(settings.audit_head_key_file, create=settings.audit.head_key_file is None).public_pem()
    if out is not None:
        out.write_text(pem)
    print(pem, end="")


@audit_app.command("prune")
def audit_prune(days: Optional[int] = typer.Option(None, min=1, help="Keep this many days (default "
                                                   "AUDIT_RETENTION_DAYS).")) -> None:
    """Remove events older than the retention period, leaving a signed checkpoint and an event that says so."""
    import datetime as dt

    settings = _settings()
    keep = days or settings.audit.retention_days
    if not keep:
        console.print("nothing to do: AUDIT_RETENTION_DAYS is 0 (keep every event) and no --days given")
        return
    audit = _audit(settings)
    try:
        removed = audit.prune(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=keep))
    finally:
        audit.close()
    console.print(f"removed {removed['removed']} events older than {keep} days")


@audit_app.command("migrate")
def audit_migrate() -> None:
    """Bring the audit database to the newest schema (the service also does this when it starts)."""
    audit = _audit(_settings())
    console.print(f"audit database at revision {audit.revision}")
    audit.close()


@keys_app.command("create")
def keys_create(name: str = typer.Option(..., help="Who or what uses the key (an agent id, a system, a site)."),
                role: str = typer.Option(..., help="citizen | agent | auditor | admin"),
                origin: list[str] = typer.Option([], help="A browser origin the key may be used from (a widget "
                                                  "key); repeat for several.")) -> None:
    """Create a key; it is printed once (only its argon2 hash is kept)."""
    from app.audit.keys import KeyStore

    audit = _audit(_settings())
    try:
        made = KeyStore(audit).create(name, role, origin)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        audit.close()
    console.print(f"key {made.key.id} ({made.key.role}, {made.key.name}) — store it now, it is not shown again:")
    print(made.secret)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, role, name, origins, created, revoked."""
    from app.audit.keys import KeyStore

    audit = _audit(_settings())
    try:
        for key in KeyStore(audit).list():
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            print(f"{key.id}\t{key.role}\t{key.name}\t{','.join(key.origins) or '-'}\t"
                  f"{key.created_at:%Y-%m-%d %H:%M}\t{state}")
    finally:
        audit.close()


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (jc_<id>_…).")) -> None:
    """Revoke a key: refused from the next request on."""
    from app.audit.keys import KeyStore

    audit = _audit(_settings())
    try:
        done = KeyStore(audit).revoke(key_id)
    finally:
        audit.close()
    if not done:
        console.print(f"[red]no active key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
