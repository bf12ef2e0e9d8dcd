"""Signed heads (app/audit/heads.py): every event's seal, and the anchor table's heads signed and
linked (previous, key_id, signature). SQLite now refuses DELETE as PostgreSQL does: only inside a
retention window (a row in audit_retention_window, put there and removed by `jingce audit prune` in
the same transaction). The anchor table is append-only in both.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_SQLITE = (
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_retention_window) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused outside retention'); END",
    "CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors "
    "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors "
    "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only: DELETE refused'); END",
)
_PG = """
CREATE OR REPLACE FUNCTION audit_anchors_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_anchors is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
  FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only();
"""


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("audit_events", sa.Column("seal", sa.Text))
    op.add_column("audit_anchors", sa.Column("previous", sa.String(64)))
    op.add_column("audit_anchors", sa.Column("key_id", sa.String(16)))
    op.add_column("audit_anchors", sa.Column("signature", sa.Text))
    op.create_index("ix_audit_anchors_seq", "audit_anchors", ["seq"])
    if bind.dialect.name == "sqlite":
        op.create_table("audit_retention_window", sa.Column("id", sa.Integer, primary_key=True))
        for statement in _SQLITE:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute(_PG)
