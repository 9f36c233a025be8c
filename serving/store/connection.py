"""The store's database: engines for SQLite and PostgreSQL, outages, and the base every part of
the store shares (reads, write transactions, small helpers)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from riskgrid.errors import InputError

if TYPE_CHECKING:  # pandas loads where a table is returned, not with the store
    import pandas as pd

_SQLITE_BUSY_MS = 30_000
IN_CHUNK = 900  # below SQLite's bound-parameter limit on old builds
_CONNECT_SECONDS = 3
_SQLITE_OUTAGES = ("locked", "busy", "unable to open", "disk i/o", "readonly")


class StoreUnavailable(RuntimeError):
    """The store's database cannot be reached now (down, restarting, locked): retry shortly."""


def open_engine(url: str) -> Engine:
    """A SQLAlchemy engine for the store's URL, set up for its database."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_MS / 1000},
            **({"poolclass": StaticPool} if memory else {}),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        # Pre-ping: connections that died with a database restart are replaced on checkout,
        # so the service recovers by itself. A short connect timeout makes requests fail fast
        # (503) while the server is unreachable instead of hanging.
        given = make_url(url).query
        timeout = {} if "connect_timeout" in given else {"connect_timeout": _CONNECT_SECONDS}
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
    raise InputError(f"RISKGRID_DATABASE_URL {url.split(':')[0]!r} is not supported; "
                     "use a sqlite:/// or postgresql+psycopg:// URL.")


@contextmanager
def reachable() -> Iterator[None]:
    """Turn the driver's "cannot reach the database" errors into StoreUnavailable."""
    try:
        yield
    except (OperationalError, DBAPIError, PoolTimeout) as exc:
        if not _unreachable(exc):
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise StoreUnavailable(f"the store's database is unreachable ({reason})") from exc


def _unreachable(exc: Exception) -> bool:
    if isinstance(exc, PoolTimeout) or getattr(exc, "connection_invalidated", False):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        # SQLite reports bugs ("no such table") as OperationalError too: only these are outages.
        return any(sign in str(exc.orig).lower() for sign in _SQLITE_OUTAGES)
    return True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    # Under WAL, NORMAL never corrupts the file and keeps one-row audit writes cheap.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Thread-safe reads and write transactions on one engine; every part of the store is one.

    Every method raises StoreUnavailable while the database cannot be reached; the engine
    replaces dead connections by itself, so the same store works again once it is back.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite has one writer at a time: queue this process's writers here, not in busy waits.
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    def close(self) -> None:
        """Release every database connection."""
        self._engine.dispose()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads; StoreUnavailable when the database cannot be reached."""
        with reachable(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction, holding this store's write lock throughout."""
        with reachable(), self._write_lock, self._engine.begin() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)


def to_frame(result: Any, columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(result.all(), columns=list(columns))


def bounded_text(field: str, value: str | None, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise InputError(f"The {field} has {len(text)} characters; keep it under {limit}.")
    return text


def check_choice(field: str, value: str | None, choices: Sequence[str], where: str) -> None:
    if value is not None and value not in choices:
        raise InputError(f"The {where} has {field} {value!r}; use one of {', '.join(choices)}.")


def iso_date(value: date | str, where: str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InputError(f"The {where} {value!r} is not an ISO date; write it as YYYY-MM-DD.") \
            from None


def json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy and pandas scalars
    return item() if callable(item) else str(value)


def chunks(area_ids: Iterable[str] | None) -> Iterator[list[str] | None]:
    if area_ids is None:
        yield None
        return
    ids = sorted(set(area_ids))
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start:start + IN_CHUNK]


def now() -> datetime:
    return datetime.now(UTC)
