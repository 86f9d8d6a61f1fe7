"""Alembic environment for the run store.

`RunStore.migrate` passes an open connection in `config.attributes["connection"]`. Without one, the
URL comes from the `sqlalchemy.url` option or from `DATABASE_URL`.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from agent.run_store import Base, build_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most columns in place; batch mode copies the table instead.
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return

    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DATABASE_URL", "sqlite:///./runs.db"
    )
    engine = build_engine(url)
    with engine.begin() as new_connection:
        _run(new_connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
