"""The tables of the audit database. The schema is made and changed by the Alembic migrations in
`app/audit/migrations/` (never `create_all`); these definitions are what the code reads and writes.

audit_events is append-only: each row carries its place in a hash chain (seq, prev_hash, hash — see
chain.py). The columns besides `details` are the ones the review page filters and counts by.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

audit_events = Table(
    "audit_events", metadata,
    Column("id", String(36), primary_key=True),
    Column("seq", BigInteger, unique=True),  # 1, 2, 3 … with no gap except what a retention checkpoint covers
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # answer | lookup | suggestion | decision | request | access | admin
    Column("kind", String(32), nullable=False, index=True),
    Column("channel", String(32), nullable=False, index=True),
    Column("status", String(40), nullable=False, index=True),
    Column("session_id", String(64), index=True),
    Column("actor", String(80), index=True),  # "key:<id>" or "anonymous", with the role: "agent key:ab12…"
    Column("department", String(64), index=True),  # the suggested lead department (suggestion, decision)
    Column("degraded", Boolean),
    Column("agreed", Boolean),  # a decision that kept the suggested lead department
    Column("question", Text),  # masked
    Column("answer", Text),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
    Column("seal", Text),  # Ed25519 over (seq, hash) with the head key (heads.py); not part of the hash
)

# What answers rested on, content-addressed: sha256 of the chunk text → the text as it was then
audit_evidence = Table(
    "audit_evidence", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
)

# Heads of the chain: signed every N events or M minutes (heads.py), each naming the previous one,
# and copied to AUDIT_ANCHOR_FILE; rows without a signature are anchors written before signing began
audit_anchors = Table(
    "audit_anchors", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False, index=True),
    Column("hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("previous", String(64)),
    Column("key_id", String(16)),
    Column("signature", Text),
)

# SQLite only: a row here, inside the retention transaction, lets its DELETE through the trigger
audit_retention_window = Table(
    "audit_retention_window", metadata,
    Column("id", Integer, primary_key=True),
)

# What retention removed: the chain up to `seq` ended in `hash`; signed with AUDIT_SIGNING_KEY
audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("removed", BigInteger, nullable=False),
    Column("oldest", DateTime(timezone=True)),
    Column("newest", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("signature", String(64), nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(16), primary_key=True),  # the public part of the key: jc_<id>_<secret>
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("origins", JSON, nullable=False),  # allowed browser origins; empty: any
    Column("secret_hash", Text, nullable=False),  # argon2id of the whole key
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
)
