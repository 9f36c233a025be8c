"""Tamper-evident history: a hash chain over the audit log, forecast vintages and warning
lifecycle steps, and no INSERT OR REPLACE of an existing row on SQLite.

Revision ID: 0003
Revises: 0002

- ``prev_hash`` and ``row_hash`` on ``audit_log``, ``forecast_vintages`` and
  ``warning_events`` (unique ``prev_hash``: a chain cannot fork), and ``seq`` on
  ``forecast_vintages``, the order of its chain (the vintage ids are random).
- The rows already there are chained here, oldest first (audit and lifecycle rows by id,
  vintages by issue time), so ``riskgrid audit verify`` covers the whole history; the
  append-only guards are lifted for that one step, inside this revision's transaction.
- SQLite: ``INSERT OR REPLACE`` deletes the old row without firing its DELETE trigger; a
  BEFORE INSERT trigger now refuses an insert whose key is already there, on all four
  append-only tables. (On PostgreSQL an upsert is an UPDATE, which its trigger refuses.)

The hashes are computed by ``serving.store.chain``, whose hash must never change: a change to
it is a new revision that re-chains, not an edit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LINKED = ("audit_log", "forecast_vintages", "warning_events")
KEYS = {"audit_log": ("id",), "forecast_vintages": ("vintage_id",),
        "forecasts": ("vintage_id", "area_id", "horizon"), "warning_events": ("event_id",)}


def upgrade() -> None:
    for table in LINKED:
        op.add_column(table, sa.Column("prev_hash", sa.Text()))
        op.add_column(table, sa.Column("row_hash", sa.Text()))
    op.add_column("forecast_vintages", sa.Column("seq", sa.Integer()))
    _chain_existing_rows()
    for table in LINKED:
        op.create_index(f"ux_{table}_prev_hash", table, ["prev_hash"], unique=True)
    op.create_index("ux_forecast_vintages_seq", "forecast_vintages", ["seq"], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        for table, key in KEYS.items():
            op.execute(no_replace(table, key))


def no_replace(table: str, key: tuple[str, ...]) -> str:
    """SQLite: refuse an insert whose primary key exists (what INSERT OR REPLACE would
    overwrite); a plain insert of such a row fails on the key anyway."""
    match = " AND ".join(f"{column} = NEW.{column}" for column in key)
    return (f"CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {match}) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def _chain_existing_rows() -> None:
    from serving.store import chain
    from serving.store.schema import audit_log, forecast_vintages, warning_events

    bind = op.get_bind()
    digests = chain._vintage_digests(bind)
    plans = [(audit_log, ["id"]), (warning_events, ["event_id"]),
             (forecast_vintages, ["issued_at", "vintage_id"])]
    with _guards_lifted(bind):
        for table, order in plans:
            columns = [c for c in table.c if c.name not in ("prev_hash", "row_hash", "seq")]
            rows = [dict(r._mapping) for r in bind.execute(
                sa.select(*columns).order_by(*(table.c[c] for c in order)))]
            if table is forecast_vintages:
                for row in rows:
                    row["_forecasts"] = digests.get(row["vintage_id"], chain.forecasts_digest([]))
            linked = chain.link(table, rows, chain.GENESIS)
            key = order[-1]
            for seq, row in enumerate(linked, start=1):
                values = {"prev_hash": row["prev_hash"], "row_hash": row["row_hash"]}
                if table is forecast_vintages:
                    values["seq"] = seq
                bind.execute(sa.update(table).where(table.c[key] == row[key]).values(**values))


class _guards_lifted:
    """The UPDATE guards of the chained tables off, and back on afterwards."""

    def __init__(self, bind: sa.Connection) -> None:
        self.bind = bind
        self.sqlite = bind.dialect.name == "sqlite"

    def __enter__(self) -> None:
        for table in LINKED:
            if self.sqlite:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            else:
                op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")

    def __exit__(self, *exc: object) -> None:
        for table in LINKED:
            if self.sqlite:
                op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON "
                           f"{table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
            else:
                op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in KEYS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    op.drop_index("ux_forecast_vintages_seq", table_name="forecast_vintages")
    for table in LINKED:
        op.drop_index(f"ux_{table}_prev_hash", table_name=table)
    # A plain DROP COLUMN (SQLite 3.35+), not a batch rebuild: the tables keep their triggers.
    op.drop_column("forecast_vintages", "seq")
    for table in LINKED:
        op.drop_column(table, "row_hash")
        op.drop_column(table, "prev_hash")
