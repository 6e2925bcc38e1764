"""Alembic's entry point: migrate the connection ``Database.upgrade`` hands over in
``config.attributes["connection"]`` (online mode only: moalab never writes SQL scripts)."""

from alembic import context

from moalab.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  # SQLite alters a table by copying it
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
