"""The store's tables: what the migrations build, and the vocabulary of their values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

from riskgrid import vocabulary as C

ROLES = C.ROLES
LEVELS = C.WARNING_LEVELS
KINDS = C.RISK_KINDS
ISSUED = "issued"


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
    Column("prev_hash", Text),
    Column("row_hash", Text),
    Index("ux_audit_log_prev_hash", "prev_hash", unique=True),
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
STATUSES = C.WARNING_STATUSES
REASON_CODES = C.REASON_CODES

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
    Column("seq", Integer),
    Column("prev_hash", Text),
    Column("row_hash", Text),
    Index("ix_forecast_vintages_experiment_as_of", "experiment", "as_of"),
    Index("ux_forecast_vintages_seq", "seq", unique=True),
    Index("ux_forecast_vintages_prev_hash", "prev_hash", unique=True),
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
    Column("prev_hash", Text),
    Column("row_hash", Text),
    Index("ix_warning_events_warning", "warning_id"),
    Index("ux_warning_events_prev_hash", "prev_hash", unique=True),
)

# --- overrides: a meeting's own level for an area and period (docs/warnings.md) -------------
OVERRIDE_ACTIONS = ("set", "clear")

override_events = Table(
    "override_events", metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("experiment", Text, nullable=False),
    Column("area_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("level", Text),
    Column("model_level", Text),
    Column("model_version", Text),
    Column("reason_code", Text),
    Column("note", Text),
    Column("who", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("prev_hash", Text),
    Column("row_hash", Text),
    Index("ix_override_events_experiment_area_period", "experiment", "area_id", "period"),
    Index("ux_override_events_prev_hash", "prev_hash", unique=True),
)

# The schema above is what the migrations (serving/store/migrations) build, and a test holds them
# to it: change a table here, add a revision there (docs/stores.md). The migrations also make
# audit_log, forecast_vintages, forecasts, warning_events and override_events append-only in the
# database itself (triggers refuse UPDATE, DELETE and, on SQLite, INSERT OR REPLACE), and
# prev_hash/row_hash chain their rows (serving/store/chain.py), so what a database owner still
# can do is seen.
