"""Versioned schema migrations of the service's store (Alembic, configured in code).

``upgrade`` brings a store to a revision under a lock, so several service workers opening the
same database at once run each migration exactly once. A store made before migrations existed
(its tables there, no ``alembic_version``) is adopted by revision 0001, which creates only the
tables and indexes it lacks, and is then upgraded like any other. docs/stores.md says how to
add a revision.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from riskgrid.errors import InputError

if TYPE_CHECKING:
    from alembic.config import Config

HEAD = "head"
FOLDER = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"  # Alembic's default: the store's revision, one row
# Any fixed 64-bit number: PostgreSQL advisory locks are per database, keyed by it.
_PG_LOCK = 0x72_69_73_6B_67_72_69_64  # "riskgrid"

# Opening a store that is at the newest revision, the usual case, needs no Alembic: head() and
# current() read the revision files and the version table themselves. Alembic, which takes
# longer to import than the rest of a store command, loads only when there is DDL to run.


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the store, without an alembic.ini."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(FOLDER))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision of the store's schema: the one no other revision revises."""
    revises = {}
    for path in (FOLDER / "versions").glob("*.py"):
        found = {target.id: node.value.value for node in ast.parse(path.read_text()).body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 for target in node.targets if isinstance(target, ast.Name)}
        if "revision" in found:
            revises[found["revision"]] = found.get("down_revision")
    heads = set(revises) - set(revises.values())
    if len(heads) != 1:  # pragma: no cover - the package ships one line of revisions
        raise RuntimeError(f"the migrations in {FOLDER / 'versions'} have the heads "
                           f"{sorted(heads)}, not one")
    return heads.pop()


def current(engine: Engine) -> str | None:
    """The store's revision; None for an empty store or one made before migrations."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")
                                  ).scalar_one_or_none()


def upgrade(engine: Engine, revision: str = HEAD) -> str | None:
    """Upgrade the store to ``revision`` (default the newest) and return its revision.

    A no-op, without taking the lock, when the store is already at the newest revision.
    """
    if revision in (HEAD, head()) and current(engine) == head():
        return head()
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    with engine.begin() as connection:
        _lock(connection)
        try:
            command.upgrade(config(connection), revision)
        except CommandError as exc:
            raise InputError(f"Cannot upgrade the store to revision {revision!r} ({exc}); "
                             f"give 'head' or a revision from serving/store/migrations/versions.") \
                from None
        return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    """Hold the store's migration lock until this transaction ends (commit or rollback)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    elif connection.dialect.name == "sqlite":
        # The write lock of the whole file, taken now rather than at the first write: a second
        # process waits here (busy timeout) and then finds the schema upgraded.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
