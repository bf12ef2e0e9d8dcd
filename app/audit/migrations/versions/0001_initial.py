"""The schema as `create_all` made it before migrations: audit events, routing suggestions and
decisions. A database made that way has these tables already and no version: only missing ones are made.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "audit_events" not in existing:
        op.create_table(
            "audit_events",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
            sa.Column("kind", sa.String(32), nullable=False, index=True),
            sa.Column("channel", sa.String(32), nullable=False, index=True),
            sa.Column("status", sa.String(40), nullable=False, index=True),
            sa.Column("session_id", sa.String(64), index=True),
            sa.Column("question", sa.Text),
            sa.Column("answer", sa.Text),
            sa.Column("details", sa.JSON, nullable=False))
    if "routing_suggestions" not in existing:
        op.create_table(
            "routing_suggestions",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
            sa.Column("channel", sa.String(32), nullable=False),
            sa.Column("agent", sa.String(64)),
            sa.Column("ticket", sa.Text, nullable=False),
            sa.Column("category", sa.String(32), index=True),
            sa.Column("lead_department", sa.String(64), nullable=False, index=True),
            sa.Column("confidence", sa.Float),
            sa.Column("needs_review", sa.Boolean, nullable=False),
            sa.Column("model_version", sa.String(64)),
            sa.Column("details", sa.JSON, nullable=False))
    if "routing_decisions" not in existing:
        op.create_table(
            "routing_decisions",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("suggestion_id", sa.String(36), sa.ForeignKey("routing_suggestions.id"), nullable=False,
                      unique=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
            sa.Column("agent", sa.String(64)),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("department", sa.String(64), nullable=False),
            sa.Column("co_handlers", sa.JSON, nullable=False),
            sa.Column("category", sa.String(32)),
            sa.Column("reason", sa.Text),
            sa.Column("agreed", sa.Boolean, nullable=False))
