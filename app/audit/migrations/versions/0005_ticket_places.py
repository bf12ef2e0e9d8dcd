"""A suggestion's district and street as columns (they were only inside `details`): hot topics read a
period's tickets by place without loading every suggestion's whole JSON. Existing rows are filled from
their details.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

_BATCH = 500


def upgrade() -> None:
    op.add_column("routing_suggestions", sa.Column("district", sa.String(16)))
    op.add_column("routing_suggestions", sa.Column("street", sa.String(32)))
    op.create_index("ix_routing_suggestions_street", "routing_suggestions", ["district", "street"])
    table = sa.table("routing_suggestions", sa.column("id", sa.String), sa.column("details", sa.JSON),
                     sa.column("district", sa.String), sa.column("street", sa.String))
    bind, last = op.get_bind(), ""
    while True:  # keyset batches: a large table is never read whole
        rows = bind.execute(sa.select(table.c.id, table.c.details).where(table.c.id > last)
                            .order_by(table.c.id).limit(_BATCH)).all()
        if not rows:
            break
        for row_id, details in rows:
            place = (details or {}).get("place") or {}
            if place.get("district") or place.get("street"):
                bind.execute(table.update().where(table.c.id == row_id)
                             .values(district=place.get("district"), street=place.get("street")))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_routing_suggestions_street", "routing_suggestions")
    op.drop_column("routing_suggestions", "street")
    op.drop_column("routing_suggestions", "district")
