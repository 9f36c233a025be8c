"""The store as it was before migrations: keys, audit log, warnings, forecast ledger.

Revision ID: 0001
Revises:

A store made before migrations existed already has some or all of these tables: this revision
creates only the tables and indexes that are missing (a store from before the forecast ledger
gets its tables, as ``create_all`` used to do) and leaves the rest, and their rows, as they are.
The append-only triggers are created in a form that is a no-op where they exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types in serving/store/ as of this revision.
WHEN = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER: SQLite's rowid
APPEND_ONLY = ("audit_log", "forecast_vintages", "forecasts", "warning_events")


def tables() -> list[tuple[str, list[sa.SchemaItem], dict[str, list[str]]]]:
    """(table, columns and constraints, {index: columns}) in the order they can be created."""
    text, required = sa.Text(), {"nullable": False}
    return [
        ("api_keys", [
            sa.Column("key_id", text, primary_key=True),
            sa.Column("key_hash", text, **required),
            sa.Column("role", text, **required),
            sa.Column("scope", text, **required),
            sa.Column("label", text),
            sa.Column("created_at", WHEN, **required),
            sa.Column("revoked_at", WHEN),
        ], {}),
        ("audit_log", [
            sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
            sa.Column("at", WHEN, **required),
            sa.Column("key_id", text),
            sa.Column("endpoint", text, **required),
            sa.Column("areas", text, **required),
            sa.Column("model_version", text),
            sa.Column("status", sa.Integer(), **required),
            sa.Column("detail", text),
        ], {}),
        ("warnings", [
            sa.Column("warning_id", text, primary_key=True),
            sa.Column("area_id", text, **required),
            sa.Column("level", text, **required),
            sa.Column("kind", text, **required),
            sa.Column("rule", text, nullable=True),
            sa.Column("period", text, **required),
            sa.Column("as_of", text, **required),
            sa.Column("horizon", sa.Integer(), **required),
            sa.Column("model_version", text, **required),
            sa.Column("score", sa.Float(), **required),
            sa.Column("evidence", text, **required),
            sa.Column("response_en", text, **required),
            sa.Column("response_zh", text, **required),
            sa.Column("status", text, **required),
            sa.Column("issued_at", WHEN, **required),
        ], {"ix_warnings_area_period": ["area_id", "period"], "ix_warnings_as_of": ["as_of"]}),
        ("forecast_vintages", [
            sa.Column("vintage_id", text, primary_key=True),
            sa.Column("source", text, **required),
            sa.Column("experiment", text, **required),
            sa.Column("as_of", text, **required),
            sa.Column("model_version", text, **required),
            sa.Column("fingerprint", text, **required),
            sa.Column("issued_at", WHEN, **required),
            sa.Column("forecasts", sa.Integer(), **required),
        ], {"ix_forecast_vintages_experiment_as_of": ["experiment", "as_of"]}),
        ("forecasts", [
            sa.Column("vintage_id", text, sa.ForeignKey("forecast_vintages.vintage_id"),
                      primary_key=True),
            sa.Column("area_id", text, primary_key=True),
            sa.Column("horizon", sa.Integer(), primary_key=True),
            sa.Column("target_period", text, **required),
            sa.Column("expected_count", sa.Float(), **required),
            sa.Column("low", sa.Float(), **required),
            sa.Column("high", sa.Float(), **required),
            sa.Column("risk_probability", sa.Float(), **required),
            sa.Column("risk_level", text, **required),
        ], {}),
        ("warning_events", [
            sa.Column("event_id", SERIAL, primary_key=True, autoincrement=True),
            sa.Column("warning_id", text, sa.ForeignKey("warnings.warning_id"), **required),
            sa.Column("action", text, **required),
            sa.Column("from_status", text, **required),
            sa.Column("to_status", text, **required),
            sa.Column("who", text, **required),
            sa.Column("at", WHEN, **required),
            sa.Column("reason_code", text),
            sa.Column("note", text),
        ], {"ix_warning_events_warning": ["warning_id"]}),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, columns, indexes in tables():
        existing = set()
        if inspector.has_table(name):
            existing = {index["name"] for index in inspector.get_indexes(name)}
        else:
            op.create_table(name, *columns)
        for index, on in indexes.items():
            if index not in existing:
                op.create_index(index, name, on)
    for name in APPEND_ONLY:
        append_only(name)


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE) in the database itself, so no code path (or
    psql session) can rewrite history."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{table} is append-only'; "
                   "END $$")
        op.execute(f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR "
                   f"TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION "
                   f"{table}_append_only()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} "
                   f"ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, _, _ in reversed(tables()):
        op.drop_table(name)  # its indexes and triggers go with it
        if postgres and name in APPEND_ONLY:
            op.execute(f"DROP FUNCTION IF EXISTS {name}_append_only()")
