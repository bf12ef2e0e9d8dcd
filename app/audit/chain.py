"""The hash chain over audit events: each event's hash is SHA-256 over a canonical form of its row,
including the previous event's hash, so that editing, deleting, inserting or reordering a row in
SQL breaks a link that `verify` finds.

The canonical form is the row's fields as a compact JSON list, a newline, and the `details` column's
text exactly as stored. Hashing the stored text (rather than re-serialising parsed JSON) makes
verification byte-exact and fast: a million events in well under a minute. The store writes details
as `canonical_json` (the engine's JSON serialiser), so the text is the same in SQLite and PostgreSQL
(whose `json` type keeps its input verbatim). Times are UTC to the microsecond; SQLite hands them
back as text in its storage format, PostgreSQL as datetimes: both read the same here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

GENESIS = "0" * 64  # prev_hash of the first event
# the row's fields in the order they are hashed (details is hashed apart, as its stored text)
FIELDS = ("id", "seq", "created_at", "kind", "channel", "status", "session_id", "actor", "department",
          "degraded", "agreed", "question", "answer", "prev_hash")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def time_text(moment: dt.datetime | str | None) -> str | None:
    """A time as the chain hashes it. A datetime without zone is UTC (what SQLite's column gives back);
    a string is SQLite's own storage form ("2026-11-28 00:49:34.343848")."""
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite's storage form, or PostgreSQL's to_char in the store's raw query
        return moment if moment.endswith("Z") else moment.replace(" ", "T") + "Z"
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)  # SQLite gives 0/1, PostgreSQL booleans


def link_hash(values: Sequence[Any], details_text: str) -> str:
    """values: the FIELDS in order (created_at as a datetime or SQLite's text)."""
    out = list(values)
    out[2] = time_text(out[2])
    out[9], out[10] = _flag(out[9]), _flag(out[10])
    head = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{head}\n{details_text}".encode()).hexdigest()


def intact(raw: Sequence[Any]) -> bool:
    """A raw row (FIELDS, the details as stored text, the stored hash) still gives its stored hash."""
    return link_hash(raw[:14], raw[14]) == raw[15]


def row_hash(row: Mapping[str, Any], details_text: str | None = None) -> str:
    """The hash of a row given as a mapping; details as stored text, else serialised canonically."""
    text = details_text if details_text is not None else canonical_json(row.get("details"))
    return link_hash([row.get(name) for name in FIELDS], text)


def sign(key: bytes, *parts: Any) -> str:
    """HMAC-SHA256 over the parts (a retention checkpoint), so it cannot be rewritten without the key."""
    return hmac.new(key, json.dumps([str(p) for p in parts], ensure_ascii=False).encode(), hashlib.sha256).hexdigest()


@dataclass
class Break:
    kind: str  # edited | missing | broken_link | out_of_order | truncated | checkpoint | rewritten |
    #          unsealed | forged_head | heads_missing
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
    heads_checked: int = 0  # signed heads (heads.py) checked
    unsigned: int | None = None  # events after the last signed head (None: heads not checked)
    last_signed_seq: int | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "first_break"}
        out["first_break"] = vars(self.first_break) if self.first_break else None
        return out

    def broken(self, kind: str, seq: int | None, event_id: str | None, detail: str) -> "Report":
        self.ok, self.first_break = False, Break(kind, seq, event_id, detail)
        return self


def walk(rows: Iterable[Sequence[Any]], start_seq: int, start_hash: str, report: Report) -> Report:
    """Checks raw rows — FIELDS, then the details text, then the stored hash — in seq order against
    the link before them: (start_seq, start_hash) is the event just before the first row expected
    (0 and GENESIS, or a retention checkpoint). Stops at the first break."""
    expected_seq, previous = start_seq + 1, start_hash
    for row in rows:
        event_id, seq = row[0], row[1]
        if report.first_seq is None:
            report.first_seq = seq
        if seq is None or seq < expected_seq:
            return report.broken("out_of_order", seq, event_id, "an event without a place in the chain, or out of "
                                 f"order (expected sequence {expected_seq}): inserted or renumbered")
        if seq > expected_seq:
            return report.broken("missing", seq, event_id, f"events {expected_seq}…{seq - 1} are missing before this "
                                 "one: deleted")
        if not intact(row):
            return report.broken("edited", seq, event_id, "the event's content does not match its hash: edited")
        if row[13] != previous:
            return report.broken("broken_link", seq, event_id, "the event does not follow the one before it: an event "
                                 "before it was edited, deleted or inserted")
        report.checked += 1
        expected_seq, previous = seq + 1, row[15]
        report.head_seq, report.head_hash = seq, previous
    return report
