"""Alembic's entry point. twin runs it through twin.catalog.migrate, inside the transaction
that holds the catalog's write lock, so an upgrade commits whole or not at all."""

from alembic import context

from twin.catalog.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("twin upgrades a catalog when it opens it (twin.catalog.migrate); run a twin command")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
