"""The hotline knowledge base's entries proposed at the desk and their review (approved entries are
also indexed: app/knowledge/).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("department", sa.String(64)),
        sa.Column("category", sa.JSON, nullable=False),
        sa.Column("district", sa.String(16)),
        sa.Column("street", sa.String(32)),
        sa.Column("basis", sa.JSON, nullable=False),
        sa.Column("effective", sa.String(10)),
        sa.Column("review_by", sa.String(10)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("suggestion_id", sa.String(36)),
        sa.Column("proposed_by", sa.String(128)),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("reviewed_by", sa.String(128)),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("review_note", sa.Text))


def downgrade() -> None:
    op.drop_table("knowledge_entries")
