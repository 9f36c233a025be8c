"""The service's persistent store: API keys, the audit log, warnings, the forecast ledger and
the level overrides.

One :class:`Store` per process, made by :func:`open_store`; its parts live in their own modules
(keys, audit, warnings, forecasts, overrides) over one database (connection) and one schema.
"""

from __future__ import annotations

from serving.store import migrations
from serving.store.audit import Audit
from serving.store.connection import StoreUnavailable, open_engine, reachable
from serving.store.forecasts import Forecasts
from serving.store.history import History
from serving.store.keys import KeyRecord, Keys
from serving.store.overrides import OVERRIDE_LEVELS, Overrides
from serving.store.schema import KINDS, LEVELS, REASON_CODES, ROLES, SOURCES, STATUSES, metadata
from serving.store.warnings import ACTIONS, TRANSITIONS, Warnings

__all__ = [
    "ACTIONS", "KINDS", "LEVELS", "OVERRIDE_LEVELS", "REASON_CODES", "ROLES", "SOURCES",
    "STATUSES", "TRANSITIONS", "KeyRecord", "Store", "StoreUnavailable", "metadata",
    "open_engine", "open_store", "store_revision", "upgrade_store",
]


class Store(Keys, Audit, Warnings, Forecasts, Overrides, History):
    """Thread-safe access to the store; build one with `open_store`."""


def open_store(url: str) -> Store:
    """Open the store at a SQLAlchemy URL (SQLite or PostgreSQL), creating it or upgrading its
    schema to the newest revision first if needed."""
    engine = open_engine(url)
    try:
        with reachable():
            migrations.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def upgrade_store(url: str, revision: str = migrations.HEAD) -> str | None:
    """Upgrade the store's schema to a revision (default the newest); returns the revision."""
    engine = open_engine(url)
    try:
        with reachable():
            return migrations.upgrade(engine, revision)
    finally:
        engine.dispose()


def store_revision(url: str) -> tuple[str | None, str]:
    """The store's schema revision (None before the first upgrade) and the newest one."""
    engine = open_engine(url)
    try:
        with reachable():
            return migrations.current(engine), migrations.head()
    finally:
        engine.dispose()
