"""Verify an audit database without the service: `python -m app.audit.verify --database-url URL
--public-key jingce-audit.pub [--heads heads.jsonl]`. What an auditor needs is read access to the
database, the file of signed heads kept elsewhere and the published public key (`jingce audit
public-key`); nothing is written, no private key is read. Exit code 0 intact, 1 broken, 2 unusable."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.audit.heads import HeadVerifier, read_heads
from app.audit.store import AuditStore


def verify_database(url: str, verifier: HeadVerifier | None, heads_file: Path | None,
                    from_seq: int | None = None) -> dict:
    store = AuditStore(url, migrate_schema=False)
    try:
        clock = time.perf_counter()
        report = store.verify(from_seq, read_heads(heads_file), verifier=verifier)
        return {**report.as_dict(), "key_id": verifier.key_id if verifier else None,
                "seconds": round(time.perf_counter() - clock, 3)}
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.audit.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL (read only is enough)")
    parser.add_argument("--public-key", type=Path, required=True, help="the PEM `jingce audit public-key` prints")
    parser.add_argument("--heads", type=Path, help="the anchor file of signed heads (AUDIT_ANCHOR_FILE)")
    parser.add_argument("--from", dest="from_seq", type=int, help="start at this sequence number")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        verifier = HeadVerifier.from_pem(args.public_key.read_bytes())
        out = verify_database(args.database_url, verifier, args.heads, args.from_seq)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(("intact" if out["ok"] else f"broken ({out['first_break']['kind']}) at sequence "
               f"{out['first_break']['seq']}: {out['first_break']['detail']}") +
              f" — {out['checked']} events, {out['heads_checked']} signed heads, {out['unsigned'] or 0} unsigned after "
              "the last" + "".join(f"; {n}" for n in out["notes"]))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
