"""Opaque cursors for keyset pagination: the next page starts after the last item of this one.

A cursor holds the sort key of the last item and a fingerprint of the query it came from, so a
cursor replayed with other parameters is refused instead of silently paging a different list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any


class BadCursor(ValueError):
    pass


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:12]


def encode(key: list[Any], params: dict[str, Any]) -> str:
    raw = json.dumps({"k": key, "f": fingerprint(params)}, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, params: dict[str, Any]) -> tuple[float, str]:
    """The sort key a cursor holds — every order here is (a number, a doc_id) — or BadCursor. The
    fingerprint is no secret: a forged cursor with a well-formed fingerprint is checked for shape too."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key, fp = data["k"], data["f"]
    except (ValueError, KeyError, TypeError):
        raise BadCursor("not a cursor this API issued") from None
    if fp != fingerprint(params):
        raise BadCursor("the cursor belongs to a different query; start again without it")
    # bounded: a number past a float (10**400) or a document id of a megabyte is no cursor of ours
    if not (isinstance(key, list) and len(key) == 2 and isinstance(key[0], (int, float))
            and not isinstance(key[0], bool) and isinstance(key[1], str) and len(key[1]) <= 200
            and -_LARGEST <= key[0] <= _LARGEST):
        raise BadCursor("not a cursor this API issued")
    return float(key[0]), key[1]


_LARGEST = 1e15  # sort keys are scores, dates as numbers and counts: far below this
