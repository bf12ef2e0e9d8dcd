"""`jingce ingest`, `jingce worker` and `jingce vectors pack`: putting the corpus in the index."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli.common import app, vectors_app, console, _settings, _services, _ChunkRateColumn, _RichProgress, _LogProgress, _print_report


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
