"""Alembic's entry point: run the store's migrations on the connection it is handed.

``serving.store.migrations.upgrade`` passes an open connection (inside its transaction and lock) in
``config.attributes["connection"]``. From the ``alembic`` command line there is none: the URL
is ``-x url=...``, else RISKGRID_DATABASE_URL (SQLite in the data directory by default).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from riskgrid.settings import Settings
from serving.store.connection import open_engine
from serving.store.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata,
        # SQLite cannot ALTER most things: autogenerate writes batch (copy-and-move) operations.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("riskgrid's migrations run against a live database; drop --sql.")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or Settings().store_url()
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            run(connection)
            connection.commit()
    finally:
        engine.dispose()


main()
