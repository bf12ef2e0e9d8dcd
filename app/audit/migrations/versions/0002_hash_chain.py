"""The hash chain, frozen evidence, anchors, retention checkpoints and API keys.

Existing events are put on the chain in the order they were written (created_at, id). In PostgreSQL
a trigger refuses UPDATE of audit_events always and DELETE unless the transaction set
`jingce.retention = on` (what `jingce audit prune` does); in SQLite a trigger refuses UPDATE.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from app.audit.chain import FIELDS, GENESIS, link_hash

revision = "0002"
down_revision = "0001"

_REFUSE_PG = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('jingce.retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""
_REFUSE_SQLITE = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
"""


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger))
        batch.add_column(sa.Column("actor", sa.String(80)))
        batch.add_column(sa.Column("department", sa.String(64)))
        batch.add_column(sa.Column("degraded", sa.Boolean))
        batch.add_column(sa.Column("agreed", sa.Boolean))
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
    # hashed over the details text as stored (chain.py); the fields in the chain's order
    fields = [f for f in FIELDS if f not in ("seq", "prev_hash")]
    rows = bind.execute(sa.text(f"SELECT {', '.join(fields)}, CAST(details AS TEXT) FROM audit_events "
                                "ORDER BY created_at, id")).all()
    previous = GENESIS
    for seq, row in enumerate(rows, 1):
        values = dict(zip(fields, row[:-1]), seq=seq, prev_hash=previous)
        digest = link_hash([values[f] for f in FIELDS], row[-1])
        bind.execute(sa.text("UPDATE audit_events SET seq = :seq, prev_hash = :prev, hash = :hash WHERE id = :id"),
                     {"seq": seq, "prev": previous, "hash": digest, "id": values["id"]})
        previous = digest
    op.create_index("ix_audit_events_seq", "audit_events", ["seq"], unique=True)
    for column in ("actor", "department"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
    op.create_table(
        "audit_evidence",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False))
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("removed", sa.BigInteger, nullable=False),
        sa.Column("oldest", sa.DateTime(timezone=True)),
        sa.Column("newest", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("origins", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)))
    if bind.dialect.name == "postgresql":
        op.execute(_REFUSE_PG)
    elif bind.dialect.name == "sqlite":
        op.execute(_REFUSE_SQLITE)
