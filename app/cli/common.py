"""The `jingce` command's groups, console and helpers every command module shares."""

from __future__ import annotations

import sys
import time
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.table import Table
from rich.text import Text

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
audit_app = typer.Typer(help="The audit log: prove it intact, sign its head, give auditors the public key, "
                             "apply retention, migrate.", no_args_is_help=True)
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
