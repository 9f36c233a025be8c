"""Hash chains over the store's history: each audit row, forecast vintage, warning lifecycle
step and level override carries the hash of the one before it, so a changed, removed or
reordered row is found.

The database refuses UPDATE, DELETE and REPLACE on these tables (triggers, and on PostgreSQL
the service's grants: docs/stores.md); the chain makes what a database owner can still do
visible. A row's hash covers its fields and the previous row's hash (a vintage's also covers
every forecast of the vintage), so :func:`verify` names the first link that does not hold.
Anyone able to write the database can rebuild a chain from scratch: note the head hash
``riskgrid audit verify`` prints somewhere else (a meeting's minutes) and pass it back with
``--head`` to check that the history up to it is still there.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Float, Integer, Table, select, text

from serving.store.schema import (
    UTCDateTime,
    audit_log,
    forecast_vintages,
    forecasts_table,
    override_events,
    warning_events,
)

GENESIS = "0" * 64
# table -> the column that orders its rows (the chain runs in this order)
ORDER = {audit_log.name: "id", forecast_vintages.name: "seq", warning_events.name: "event_id",
         override_events.name: "event_id"}
CHAINED = (audit_log, forecast_vintages, warning_events, override_events)
_FORECAST_FIELDS = ("area_id", "horizon", "target_period", "expected_count", "low", "high",
                    "risk_probability", "risk_level")
_LINK_COLUMNS = frozenset({"prev_hash", "row_hash", "seq"})


def normal(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's values as the database gives them back (so the hash survives the round trip):
    text as str, integers as int, floats as float, times as aware UTC datetimes."""
    out = {}
    for name, value in row.items():
        column = table.c[name]
        if value is None:
            out[name] = None
        elif isinstance(column.type, UTCDateTime):
            out[name] = value.astimezone(UTC)
        elif isinstance(column.type, Integer):
            out[name] = int(value)
        elif isinstance(column.type, Float):
            out[name] = float(value)
        else:
            out[name] = str(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    raise TypeError(f"cannot hash {type(value).__name__}")


def digest(previous: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 of the previous row's hash and this row's fields (canonical JSON)."""
    payload = json.dumps(dict(fields), sort_keys=True, ensure_ascii=False, default=_plain,
                         separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{payload}".encode()).hexdigest()


def forecasts_digest(rows: Iterable[Mapping[str, Any]]) -> str:
    """One hash of a vintage's forecasts, in (area, horizon) order."""
    ordered = sorted((normal(forecasts_table, {k: r[k] for k in _FORECAST_FIELDS})
                      for r in rows), key=lambda r: (r["area_id"], r["horizon"]))
    return digest(GENESIS, {"forecasts": ordered})


def hashed_fields(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """What a row's hash covers: every column but the serial id and the links themselves."""
    serial = ORDER[table.name] if table is not forecast_vintages else None
    return {k: v for k, v in row.items() if k not in _LINK_COLUMNS and k != serial}


def lock(conn: Connection, table: Table) -> None:
    """Hold the table's append lock until the transaction ends: one writer extends a chain at a
    time, across processes (SQLite: the file's write lock; PostgreSQL: an advisory lock)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        key = zlib.crc32(f"riskgrid chain {table.name}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def head(conn: Connection, table: Table) -> tuple[str, int]:
    """The newest row's hash (GENESIS before the first chained row) and its order value."""
    order = table.c[ORDER[table.name]]
    row = conn.execute(select(table.c.row_hash, order).where(order.is_not(None))
                       .order_by(order.desc()).limit(1)).one_or_none()
    if row is None:
        return GENESIS, 0
    return row[0] or GENESIS, int(row[1])


def link(table: Table, rows: Sequence[Mapping[str, Any]], previous: str
         ) -> list[dict[str, Any]]:
    """The rows, normalised, each with its prev_hash and row_hash, chained after ``previous``.
    Rows of forecast_vintages carry ``forecasts_digest`` in a ``_forecasts`` key (not stored)."""
    out = []
    for row in rows:
        record = normal(table, {k: v for k, v in row.items() if k != "_forecasts"})
        fields = hashed_fields(table, record)
        if table is forecast_vintages:
            fields["_forecasts"] = row["_forecasts"]
        record["prev_hash"] = previous
        record["row_hash"] = previous = digest(previous, fields)
        out.append(record)
    return out


# --- verification ----------------------------------------------------------------------------

@dataclass
class ChainReport:
    """What verify found in one table."""

    table: str
    rows: int = 0
    head: str = GENESIS
    broken: str | None = None  # the first link that does not hold, in one sentence
    found: set[str] = field(default_factory=set)  # the anchors asked for that are in the chain


def verify(conn: Connection, table: Table, anchors: frozenset[str] = frozenset()
           ) -> ChainReport:
    """Walk the table's chain in order; stop at the first broken link. ``anchors`` are head
    hashes noted earlier: the report says which of them are still in the chain."""
    report = ChainReport(table.name)
    order = table.c[ORDER[table.name]]
    digests = _vintage_digests(conn) if table is forecast_vintages else {}
    query = select(table).order_by(order.is_(None), order)  # rows without a seq come last
    with conn.execute(query.execution_options(yield_per=2000)) as result:
        report.head = _walk(table, result, digests, anchors, report)
    return report


def _walk(table: Table, result: Iterable, digests: Mapping[str, str],
          anchors: frozenset[str], report: ChainReport) -> str:
    previous = GENESIS
    for row in result:
        values = dict(row._mapping)
        name = _name(table, values)
        report.rows += 1
        if values["row_hash"] is None or values.get(ORDER[table.name]) is None:
            report.broken = f"{name} has no hash: it was written outside riskgrid"
            break
        if values["prev_hash"] != previous:
            report.broken = (f"{name} does not follow the row before it (its prev_hash differs): "
                             "a row before it was removed, replaced or reordered")
            break
        fields = normal(table, hashed_fields(table, values))
        if table is forecast_vintages:
            fields["_forecasts"] = digests.get(values["vintage_id"], forecasts_digest([]))
        if digest(previous, fields) != values["row_hash"]:
            what = "its fields or its forecasts" if table is forecast_vintages else "its fields"
            report.broken = f"{name} was changed after it was written ({what} no longer match " \
                "its hash)"
            break
        previous = values["row_hash"]
        if previous in anchors:
            report.found.add(previous)
    return previous


def _name(table: Table, values: Mapping[str, Any]) -> str:
    if table is forecast_vintages:
        return f"forecast_vintages vintage {values['vintage_id']} (seq {values['seq']})"
    column = ORDER[table.name]
    return f"{table.name} row {column} {values[column]}"


def _vintage_digests(conn: Connection) -> dict[str, str]:
    columns = [forecasts_table.c.vintage_id, *(forecasts_table.c[f] for f in _FORECAST_FIELDS)]
    query = select(*columns).order_by(forecasts_table.c.vintage_id)
    with conn.execute(query.execution_options(yield_per=5000)) as result:
        rows: Iterator = (dict(r._mapping) for r in result)
        return {vintage: forecasts_digest(group)
                for vintage, group in groupby(rows, key=lambda r: r["vintage_id"])}
