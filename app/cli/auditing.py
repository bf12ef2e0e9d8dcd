"""`jingce audit …` and `jingce keys …`: the audit log and API keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from app.config import Settings

from app.cli.common import audit_app, keys_app, console, _settings, _services


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
