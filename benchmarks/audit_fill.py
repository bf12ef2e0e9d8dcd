"""Fill an audit database with N chained events the size of an answer's, in bulk inserts — for timing
`verify` on a million events without a million transactions (benchmarks/bench_audit.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert

from app.audit.chain import GENESIS, row_hash
from app.audit.schema import audit_events
from app.audit.store import AuditStore


def fill(store: AuditStore, n: int, batch: int = 5000) -> None:
    previous, seq = GENESIS, 0
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    details = {"retrieved": [{"chunk_id": str(uuid.uuid4()), "doc_id": "bj-2024-minimum-living-allowance",
                              "score": 0.91234, "text_sha256": "ab" * 32, "validity": "现行有效"} for _ in range(5)],
               "citations": [{"chunk_id": "c", "doc_id": "d", "start": 10, "end": 40}], "composer": "extractive",
               "timings_ms": {"retrieve": 12.3, "compose": 4.5}}
    while seq < n:
        rows = []
        for _ in range(min(batch, n - seq)):
            seq += 1
            row = {"id": str(uuid.uuid4()), "seq": seq, "created_at": start + dt.timedelta(seconds=seq),
                   "kind": "answer", "channel": "web", "status": "answered", "session_id": None,
                   "actor": "citizen anonymous", "department": None, "degraded": False, "agreed": None,
                   "question": "低保标准是多少钱一个月", "answer": "本市城乡低保标准为每人每月1450元。[1]",
                   "details": details, "prev_hash": previous}
            row["hash"] = previous = row_hash(row)
            rows.append(row)
        with store.engine.begin() as conn:
            conn.execute(insert(audit_events), rows)
