"""`jingce search`, `ask`, `route`, `stats` and `serve`: using the index."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console

from app.clients.vector_store import CHUNKS
from app.domain import SearchFilters

from app.cli.common import app, console, _settings, _services, _filters


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


@app.command()
def mcp(key: Optional[str] = typer.Option(None, "--key", envvar="JINGCE_API_KEY", show_envvar=True,
                                          help="The API key the tools are called with (its role and limit); "
                                               "none: an anonymous citizen, where AUTH_ANONYMOUS_CITIZENS allows.")) -> None:
    """Serve the MCP tools (search_policies, get_policy, ask) over stdio, for an agent that starts this
    command itself. It opens the configured store in this process: beside a running `jingce serve` on the
    embedded store, connect to its HTTP endpoint (POST /mcp) instead."""
    from app.api.access import Caller
    from app.api.routes_mcp import CHANNEL, build_mcp_server
    from app.audit.store import AuditEvent

    settings = _settings()
    services = _services(settings)
    try:
        if key:
            found = services.keys.authenticate(key)
            if found is None:
                services.audit.record(AuditEvent("access", CHANNEL, "unauthenticated", actor="anonymous", details={
                    "client": "stdio", "detail": "the API key is unknown or revoked"}))
                console.print("[red]the API key is unknown or revoked[/red]")
                raise typer.Exit(2)
            caller = Caller(found.role, "stdio", found)
        elif settings.auth.anonymous_citizens:
            caller = Caller("citizen", "stdio")
        else:
            console.print("[red]this service needs an API key:[/red] --key jc_… or JINGCE_API_KEY")
            raise typer.Exit(2)
        services.warm_up()
        console.print(f"MCP over stdio as {caller.actor} ({caller.role})")
        build_mcp_server(lambda: services, stdio_caller=caller).run("stdio")
    finally:
        services.close()
