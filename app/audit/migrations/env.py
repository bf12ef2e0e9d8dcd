"""Alembic environment: the audit store passes its open connection (app/audit/migrate.py); there is
no alembic.ini — `jingce audit migrate` and every start of the service run the migrations."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
