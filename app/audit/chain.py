"""The hash chain over audit events: each event's hash is SHA-256 over a canonical JSON form of its
row, including the previous event's hash, so that editing, deleting, inserting or reordering a row in
SQL breaks a link that `verify` finds. The canonical form must read the same from SQLite and
PostgreSQL: times in UTC to the microsecond, JSON with sorted keys and no ASCII escaping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

GENESIS = "0" * 64  # prev_hash of the first event
HASHED = ("id", "seq", "created_at", "kind", "channel", "status", "session_id", "actor", "department",
          "degraded", "agreed", "question", "answer", "details", "prev_hash")


def utc_text(moment: dt.datetime | None) -> str | None:
    """A time as the chain hashes it; a time without zone (SQLite gives those back) is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[str, Any]) -> bytes:
    values = {name: row.get(name) for name in HASHED}
    values["created_at"] = utc_text(values["created_at"])
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def sign(key: bytes, *parts: Any) -> str:
    """HMAC-SHA256 over the parts (a retention checkpoint), so it cannot be rewritten without the key."""
    return hmac.new(key, json.dumps([str(p) for p in parts], ensure_ascii=False).encode(), hashlib.sha256).hexdigest()


@dataclass
class Break:
    kind: str  # edited | missing | broken_link | out_of_order | truncated | checkpoint
    seq: int | None
    event_id: str | None
    detail: str


@dataclass
class Report:
    ok: bool = True
    checked: int = 0
    first_seq: int | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    first_break: Break | None = None
    anchors_checked: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "first_break"}
        out["first_break"] = vars(self.first_break) if self.first_break else None
        return out


def walk(rows: Iterable[Mapping[str, Any]], start_seq: int, start_hash: str, report: Report) -> Report:
    """Checks rows in seq order against the link before them: (start_seq, start_hash) is the event
    just before the first row expected (0, GENESIS, or a retention checkpoint). Stops at the first break."""
    expected_seq, previous = start_seq + 1, start_hash
    for row in rows:
        seq = row["seq"]
        report.first_seq = report.first_seq if report.first_seq is not None else seq
        if seq is None or seq < expected_seq:
            report.first_break = Break("out_of_order", seq, row["id"], "an event without a place in the chain, or "
                                       f"out of order (expected sequence {expected_seq}): inserted or renumbered")
        elif seq > expected_seq:
            report.first_break = Break("missing", seq, row["id"], f"events {expected_seq}…{seq - 1} are missing "
                                       "before this one: deleted")
        elif event_hash(row) != row["hash"]:
            report.first_break = Break("edited", seq, row["id"], "the event's content does not match its hash: edited")
        elif row["prev_hash"] != previous:
            report.first_break = Break("broken_link", seq, row["id"], "the event does not follow the one before it: "
                                       "an event before it was edited, deleted or inserted")
        if report.first_break:
            report.ok = False
            return report
        report.checked += 1
        expected_seq, previous = seq + 1, row["hash"]
        report.head_seq, report.head_hash = seq, previous
    return report
