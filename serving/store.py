"""The service's persistent store: API keys, the audit log, warnings and the forecast ledger."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    make_url,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from features import columns as C
from features.errors import InputError
from serving import migrations

ROLES = ("viewer", "analyst", "admin")
LEVELS = C.WARNING_LEVELS
KINDS = C.RISK_KINDS
ISSUED = "issued"

# A key revoked by another process (the CLI) stops working within this many seconds;
# a revoke through the same Store takes effect at once.
_CACHE_SECONDS = 5.0
_clock = time.monotonic
_TOKEN = re.compile(r"rg_([0-9a-f]{8})_([A-Za-z0-9_-]{16,})")
_SQLITE_BUSY_MS = 30_000
_IN_CHUNK = 900  # below SQLite's bound-parameter limit on old builds
_CONNECT_SECONDS = 3
_SQLITE_OUTAGES = ("locked", "busy", "unable to open", "disk i/o", "readonly")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

api_keys = Table(
    "api_keys", metadata,
    Column("key_id", Text, primary_key=True),
    Column("key_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("label", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("key_id", Text),
    Column("endpoint", Text, nullable=False),
    Column("areas", Text, nullable=False),
    Column("model_version", Text),
    Column("status", Integer, nullable=False),
    Column("detail", Text),
)

warnings_table = Table(
    "warnings", metadata,
    Column("warning_id", Text, primary_key=True),
    Column("area_id", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("rule", Text, nullable=True),
    Column("period", Text, nullable=False),
    Column("as_of", Text, nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("response_en", Text, nullable=False),
    Column("response_zh", Text, nullable=False),
    Column("status", Text, nullable=False, default=ISSUED),
    Column("issued_at", UTCDateTime, nullable=False),
    Index("ix_warnings_area_period", "area_id", "period"),
    Index("ix_warnings_as_of", "as_of"),
    Index("ix_warnings_status_level", "status", "level"),
)

# --- forecast ledger and warning lifecycle (docs/ledger.md) ---------------------------------
SOURCES = ("api", "batch", "report", "backtest")
STATUSES = (ISSUED, "acknowledged", "handled", "closed", "dismissed")
REASON_CODES = ("false_alarm", "duplicate", "out_of_scope", "already_handled", "data_error")
# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "ack": ((ISSUED,), "acknowledged"),
    "handle": (("acknowledged",), "handled"),
    "close": (("handled",), "closed"),
    "dismiss": ((ISSUED, "acknowledged", "handled"), "dismissed"),
}
ACTIONS = tuple(TRANSITIONS)
_DONE = {"ack": "acknowledged", "handle": "handled", "close": "closed", "dismiss": "dismissed"}
_WHO_CHARS, _NOTE_CHARS = 200, 2000

forecast_vintages = Table(
    "forecast_vintages", metadata,
    Column("vintage_id", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("experiment", Text, nullable=False),
    Column("as_of", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("forecasts", Integer, nullable=False),
    Index("ix_forecast_vintages_experiment_as_of", "experiment", "as_of"),
    Index("ix_forecast_vintages_experiment_source_model", "experiment", "source",
          "model_version"),
)

forecasts_table = Table(
    "forecasts", metadata,
    Column("vintage_id", Text, ForeignKey("forecast_vintages.vintage_id"), primary_key=True),
    Column("area_id", Text, primary_key=True),
    Column("horizon", Integer, primary_key=True),
    Column("target_period", Text, nullable=False),
    Column("expected_count", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("risk_probability", Float, nullable=False),
    Column("risk_level", Text, nullable=False),
)

warning_events = Table(
    "warning_events", metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("warning_id", Text, ForeignKey("warnings.warning_id"), nullable=False),
    Column("action", Text, nullable=False),
    Column("from_status", Text, nullable=False),
    Column("to_status", Text, nullable=False),
    Column("who", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("reason_code", Text),
    Column("note", Text),
    Index("ix_warning_events_warning", "warning_id"),
)

# The schema above is what the migrations (serving/migrations) build, and a test holds them
# to it: change a table here, add a revision there (docs/stores.md). The migrations also make
# audit_log, forecast_vintages, forecasts and warning_events append-only in the database itself
# (triggers), so no code path, or psql session, can rewrite history.


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as the service sees it (never the hash, never the token)."""

    key_id: str
    role: str
    scope: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class StoreUnavailable(RuntimeError):
    """The store's database cannot be reached now (down, restarting, locked): retry shortly."""


def open_store(url: str) -> Store:
    """Open the store at a SQLAlchemy URL (SQLite or PostgreSQL), creating it or upgrading its
    schema to the newest revision first if needed."""
    engine = open_engine(url)
    try:
        with _reachable():
            migrations.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def upgrade_store(url: str, revision: str = migrations.HEAD) -> str | None:
    """Upgrade the store's schema to a revision (default the newest); returns the revision."""
    engine = open_engine(url)
    try:
        with _reachable():
            return migrations.upgrade(engine, revision)
    finally:
        engine.dispose()


def store_revision(url: str) -> tuple[str | None, str]:
    """The store's schema revision (None before the first upgrade) and the newest one."""
    engine = open_engine(url)
    try:
        with _reachable():
            return migrations.current(engine), migrations.head()
    finally:
        engine.dispose()


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
def _reachable() -> Iterator[None]:
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


class Store:
    """Thread-safe access to the store; build one with `open_store`.

    Every method raises StoreUnavailable while the database cannot be reached; the engine
    replaces dead connections by itself, so the same Store works again once it is back.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite has one writer at a time: queue this process's writers here, not in busy waits.
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._cache: dict[str, tuple[str, KeyRecord, float]] = {}
        self._cache_lock = threading.Lock()
        self._revocations = 0

    # --- API keys -----------------------------------------------------------------------
    def create_key(self, role: str, scope: str, label: str | None = None) -> tuple[KeyRecord, str]:
        """Create an API key; returns its record and the token, which is shown only once."""
        if role not in ROLES:
            raise InputError(f"Role {role!r} is unknown; use one of {', '.join(ROLES)}.")
        if not scope or not scope.strip():
            raise InputError(f"Scope is empty; give an area id, or {C.CITY!r} for all areas.")
        for _ in range(5):  # 32-bit ids: a collision is rare, so retry a few times
            key_id = secrets.token_hex(4)
            token = f"rg_{key_id}_{secrets.token_urlsafe(32)}"
            record = KeyRecord(key_id, role, scope.strip(), label, _now(), None)
            try:
                with self._writing() as conn:
                    conn.execute(insert(api_keys).values(key_hash=_hash(token), **_asdict(record)))
            except IntegrityError:
                continue
            return record, token
        raise RuntimeError("could not find a free key id after 5 attempts")

    def verify_key(self, token: str) -> KeyRecord | None:
        """The key's record if the token is valid and not revoked, else None."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            return None
        key_id = match.group(1)
        cached = self._cached(key_id)
        if cached is None:
            cached = self._load_key(key_id)
            if cached is None:
                return None
        key_hash, record = cached
        if not hmac.compare_digest(key_hash, _hash(token)):
            return None
        return record

    def is_cached(self, token: str) -> bool:
        """Whether verify_key can answer for this token without asking the database."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        return match is not None and self._cached(match.group(1)) is not None

    def list_keys(self) -> list[KeyRecord]:
        """Every key, revoked ones included, oldest first."""
        query = select(*_record_columns()).order_by(api_keys.c.created_at, api_keys.c.key_id)
        with self._reading() as conn:
            return [KeyRecord(**row._mapping) for row in conn.execute(query)]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key at once; False if no such key or it was already revoked."""
        statement = (update(api_keys)
                     .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                     .values(revoked_at=_now()))
        with self._writing() as conn:
            revoked = conn.execute(statement).rowcount == 1
        with self._cache_lock:
            self._revocations += 1  # a lookup that raced with this revoke must not cache
            self._cache.pop(key_id, None)
        return revoked

    def _cached(self, key_id: str) -> tuple[str, KeyRecord] | None:
        with self._cache_lock:
            entry = self._cache.get(key_id)
        if entry is None or entry[2] < _clock():
            return None
        return entry[0], entry[1]

    def _load_key(self, key_id: str) -> tuple[str, KeyRecord] | None:
        query = (select(api_keys.c.key_hash, *_record_columns())
                 .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)))
        revocations = self._revocations
        with self._reading() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        fields = dict(row._mapping)
        key_hash = fields.pop("key_hash")
        record = KeyRecord(**fields)
        with self._cache_lock:
            if self._revocations == revocations:
                self._cache[key_id] = (key_hash, record, _clock() + _CACHE_SECONDS)
        return key_hash, record

    # --- audit log ----------------------------------------------------------------------
    def audit(self, key_id: str | None, endpoint: str, areas: Sequence[str],
              model_version: str | None, status: int, detail: str | None = None) -> None:
        """Append one row to the audit log (one per request)."""
        row = {"at": _now(), "key_id": key_id, "endpoint": endpoint,
               "areas": json.dumps(list(areas), ensure_ascii=False),
               "model_version": model_version, "status": int(status),
               "detail": None if detail is None else detail[:500]}
        with self._writing() as conn:
            conn.execute(insert(audit_log).values(**row))

    def audit_rows(self, limit: int | None = None) -> pd.DataFrame:
        """The audit log oldest first (the last `limit` rows if given), areas decoded to lists."""
        query = select(audit_log).order_by(audit_log.c.id.desc() if limit else audit_log.c.id)
        if limit:
            query = query.limit(limit)
        with self._reading() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        rows.sort(key=lambda row: row["id"])
        for row in rows:
            row["areas"] = json.loads(row["areas"])
        frame = pd.DataFrame(rows, columns=[c.name for c in audit_log.columns])
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame.astype({"id": "int64", "status": "int64"})

    # --- warnings -----------------------------------------------------------------------
    def save_warnings(self, rows: list[dict]) -> int:
        """Store new warnings, skipping ones already issued (same warning_id).

        Returns:
            How many of the rows were new.
        """
        issued_at = _now()
        records = {}
        for number, row in enumerate(rows, start=1):
            record = _warning_record(row, number, issued_at)
            records.setdefault(record["warning_id"], record)
        if not records:
            return 0
        statement = (self._insert(warnings_table)
                     .on_conflict_do_nothing(index_elements=["warning_id"])
                     .returning(warnings_table.c.warning_id))
        with self._writing() as conn:
            return len(conn.execute(statement, list(records.values())).all())

    def query_warnings(self, area_ids: Iterable[str] | None = None, level: str | None = None,
                       kind: str | None = None, period: date | str | None = None,
                       as_of: date | str | None = None,
                       status: str | None = None) -> list[dict]:
        """Warnings matching every filter given, evidence decoded to a dict."""
        _check_choice("level", level, LEVELS, "filter")
        _check_choice("kind", kind, KINDS, "filter")
        _check_choice("status", status, STATUSES, "filter")
        area_in = warnings_table.c.area_id.in_
        filters = [warnings_table.c.status == status] if status is not None else []
        if level is not None:
            filters.append(warnings_table.c.level == level)
        if kind is not None:
            filters.append(warnings_table.c.kind == kind)
        if period is not None:
            filters.append(warnings_table.c.period == _iso_date(period, "period filter"))
        if as_of is not None:
            filters.append(warnings_table.c.as_of == _iso_date(as_of, "as_of filter"))
        found = []
        with self._reading() as conn:
            for chunk in _chunks(area_ids):
                where = filters if chunk is None else [*filters, area_in(chunk)]
                found += [dict(row._mapping) for row in conn.execute(
                    select(warnings_table).where(*where))]
        for row in found:
            row["evidence"] = json.loads(row["evidence"])
        return sorted(found, key=lambda r: (r["as_of"], r["period"], r["area_id"], r["kind"],
                                            r["horizon"], r["warning_id"]))

    # --- forecast ledger (serving/ledger.py builds the rows) -------------------------------
    def save_vintages(self, batches: Sequence[tuple[Mapping[str, Any], Sequence[Mapping]]]
                      ) -> list[str]:
        """Store forecast vintages, each (source, experiment, as_of, model_version, fingerprint)
        with its forecast rows, in one transaction; never replaces an earlier vintage.

        Returns:
            The new vintages' ids, in the order given.
        """
        issued_at, ids, vintages, rows = _now(), [], [], []
        for meta, forecasts in batches:
            vintage_id = secrets.token_hex(8)
            ids.append(vintage_id)
            vintages.append({**{k: meta[k] for k in _VINTAGE_FIELDS}, "vintage_id": vintage_id,
                             "issued_at": issued_at, "forecasts": len(forecasts)})
            rows += [{**row, "vintage_id": vintage_id} for row in forecasts]
        if not vintages:
            return []
        with self._writing() as conn:
            conn.execute(insert(forecast_vintages), vintages)
            if rows:
                conn.execute(insert(forecasts_table), rows)
        return ids

    def vintages(self, experiment: str | None = None, source: str | None = None,
                 model_version: str | None = None) -> pd.DataFrame:
        """Forecast vintages matching every filter given, newest as-of (then issue) first."""
        _check_choice("source", source, SOURCES, "filter")
        t = forecast_vintages.c
        filters = [column == value for column, value in
                   ((t.experiment, experiment), (t.source, source),
                    (t.model_version, model_version)) if value is not None]
        query = select(forecast_vintages).where(*filters).order_by(
            t.as_of.desc(), t.issued_at.desc(), t.vintage_id)
        with self._reading() as conn:
            frame = _frame(conn.execute(query), forecast_vintages.columns.keys())
        return frame.astype({"forecasts": "int64"})

    def forecasts(self, experiment: str | None = None,
                  vintage_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Every stored forecast (one row per vintage, area and horizon) with its vintage's
        source, experiment, as_of, model_version, fingerprint and issued_at."""
        v = forecast_vintages.c
        columns = [*forecasts_table.columns,
                   *(v[name] for name in (*_VINTAGE_FIELDS, "issued_at"))]
        filters = [v.experiment == experiment] if experiment is not None else []
        joined = forecasts_table.join(forecast_vintages)
        parts = []
        with self._reading() as conn:
            for chunk in _chunks(vintage_ids):
                where = filters if chunk is None else [*filters, v.vintage_id.in_(chunk)]
                parts.append(_frame(conn.execute(select(*columns).select_from(joined)
                                                 .where(*where)), [c.name for c in columns]))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.astype({"horizon": "int64", "expected_count": "float64", "low": "float64",
                             "high": "float64", "risk_probability": "float64"})

    # --- warning lifecycle ------------------------------------------------------------------
    def warning(self, warning_id: str) -> dict:
        """One warning, evidence decoded; InputError if there is none with this id."""
        with self._reading() as conn:
            row = conn.execute(select(warnings_table).where(
                warnings_table.c.warning_id == warning_id)).one_or_none()
        if row is None:
            raise InputError(f"No warning has id {warning_id!r}; riskgrid warnings list shows "
                             "the warnings and their ids.")
        found = dict(row._mapping)
        found["evidence"] = json.loads(found["evidence"])
        return found

    def warning_action(self, warning_id: str, action: str, who: str, reason: str | None = None,
                       note: str | None = None) -> dict:
        """Move a warning one step through its lifecycle and record who did it and when.

        Args:
            action: ack (issued -> acknowledged), handle (acknowledged -> handled), close
                (handled -> closed) or dismiss (from issued, acknowledged or handled).
            who: the person acting, recorded with the step.
            reason: a code from REASON_CODES; required to dismiss, refused otherwise.
            note: free text for the record (no personal data).

        Returns:
            The updated warning.
        """
        starts, to_status = _check_action(warning_id, action, reason)
        who = _bounded_text("who", who, _WHO_CHARS)
        if not who:
            raise InputError(f"Say who is acting on warning {warning_id} (who is empty); "
                             "every step is recorded with a name.")
        note = _bounded_text("note", note, _NOTE_CHARS) or None
        status = warnings_table.c.status
        is_this = warnings_table.c.warning_id == warning_id
        with self._writing() as conn:
            row = conn.execute(select(status).where(is_this)).one_or_none()
            if row is None:
                raise InputError(f"No warning has id {warning_id!r}; riskgrid warnings list "
                                 "shows the warnings and their ids.")
            current = row.status
            if current not in starts:
                raise InputError(_refusal(warning_id, current, action))
            changed = conn.execute(update(warnings_table).where(is_this, status == current)
                                   .values(status=to_status)).rowcount
            if changed != 1:  # someone else moved it between our read and our write
                raise InputError(f"Warning {warning_id} changed while you acted on it; look "
                                 "at its history and try again.")
            conn.execute(insert(warning_events).values(
                warning_id=warning_id, action=action, from_status=current, to_status=to_status,
                who=who, at=_now(), reason_code=reason, note=note))
        return self.warning(warning_id)

    def warning_history(self, warning_id: str) -> list[dict]:
        """Every lifecycle step of a warning, oldest first (the issue itself is its issued_at)."""
        self.warning(warning_id)  # an unknown id is an error, not an empty history
        query = (select(warning_events).where(warning_events.c.warning_id == warning_id)
                 .order_by(warning_events.c.event_id))
        with self._reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def lifecycle_events(self, warning_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Lifecycle steps of many warnings (all when None), oldest first."""
        parts = []
        with self._reading() as conn:
            for chunk in _chunks(warning_ids):
                where = [] if chunk is None else [warning_events.c.warning_id.in_(chunk)]
                parts.append(_frame(conn.execute(select(warning_events).where(*where)),
                                    warning_events.columns.keys()))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.sort_values("event_id", ignore_index=True)

    def close(self) -> None:
        """Release every database connection."""
        self._engine.dispose()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads; StoreUnavailable when the database cannot be reached."""
        with _reachable(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction, holding this store's write lock throughout."""
        with _reachable(), self._write_lock, self._engine.begin() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)


def _warning_record(row: Mapping[str, Any], number: int, issued_at: datetime) -> dict:
    required = ("area_id", "level", "kind", "period", "as_of", "horizon", "model_version",
                "score", "evidence", "response_en", "response_zh")
    missing = [name for name in required if row.get(name) is None]
    if missing:
        raise InputError(f"Warning row {number} lacks {', '.join(missing)}; give every field.")
    _check_choice("level", row["level"], LEVELS, f"warning row {number}")
    _check_choice("kind", row["kind"], KINDS, f"warning row {number}")
    record = {
        "area_id": str(row["area_id"]), "level": row["level"], "kind": row["kind"],
        "rule": row.get("rule"),
        "period": _iso_date(row["period"], f"warning row {number} period"),
        "as_of": _iso_date(row["as_of"], f"warning row {number} as_of"),
        "horizon": int(row["horizon"]), "model_version": str(row["model_version"]),
        "score": float(row["score"]),
        "evidence": json.dumps(row["evidence"], ensure_ascii=False, sort_keys=True,
                               default=_json_default),
        "response_en": row["response_en"], "response_zh": row["response_zh"],
        "status": row.get("status") or ISSUED, "issued_at": row.get("issued_at") or issued_at,
    }
    record["warning_id"] = row.get("warning_id") or _warning_id(record)
    return record


def _warning_id(record: Mapping[str, Any]) -> str:
    """Deterministic, so re-issuing the same warning for the same model is a no-op."""
    key = "|".join(str(record[name]) for name in
                   ("area_id", "kind", "period", "horizon", "model_version"))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


_VINTAGE_FIELDS = ("source", "experiment", "as_of", "model_version", "fingerprint")


def _frame(result: Any, columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(result.all(), columns=list(columns))


def _check_action(warning_id: str, action: str, reason: str | None
                  ) -> tuple[tuple[str, ...], str]:
    if action not in TRANSITIONS:
        raise InputError(f"Action {action!r} on warning {warning_id} is unknown; use one of "
                         f"{', '.join(ACTIONS)}.")
    if action == "dismiss":
        if not reason:
            raise InputError(f"Dismissing warning {warning_id} needs a reason code: one of "
                             f"{', '.join(REASON_CODES)}.")
        _check_choice("reason code", reason, REASON_CODES, f"dismissal of warning {warning_id}")
    elif reason is not None:
        raise InputError(f"A reason code is only given to dismiss; to {action} warning "
                         f"{warning_id}, say why in the note instead.")
    return TRANSITIONS[action]


def _refusal(warning_id: str, status: str, action: str) -> str:
    allowed = [a for a, (starts, _) in TRANSITIONS.items() if status in starts]
    then = (f"from {status} it can only be {' or '.join(_DONE[a] for a in allowed)}" if allowed
            else f"{status} is final")
    return f"Warning {warning_id} is {status}, so it cannot be {_DONE[action]}: {then}."


def _bounded_text(field: str, value: str | None, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise InputError(f"The {field} has {len(text)} characters; keep it under {limit}.")
    return text


def _check_choice(field: str, value: str | None, choices: Sequence[str], where: str) -> None:
    if value is not None and value not in choices:
        raise InputError(f"The {where} has {field} {value!r}; use one of {', '.join(choices)}.")


def _iso_date(value: date | str, where: str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InputError(f"The {where} {value!r} is not an ISO date; write it as YYYY-MM-DD.") \
            from None


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy and pandas scalars
    return item() if callable(item) else str(value)


def _chunks(area_ids: Iterable[str] | None) -> Iterator[list[str] | None]:
    if area_ids is None:
        yield None
        return
    ids = sorted(set(area_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start:start + _IN_CHUNK]


def _record_columns() -> list[Column[Any]]:
    return [api_keys.c[name] for name in KeyRecord.__slots__]


def _asdict(record: KeyRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in KeyRecord.__slots__}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)
