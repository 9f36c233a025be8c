"""Level overrides: a meeting's own level for an area and period, with a reason code, kept as
an append-only, hash-chained history.

Revision ID: 0004
Revises: 0003

- ``override_events``: one row per override set or cleared (clearing is a new row, never a
  delete), chained by ``prev_hash``/``row_hash`` like the other history tables
  (``serving.store.chain``), with a unique ``prev_hash`` so the chain cannot fork.
- Append-only in the database itself: triggers refuse UPDATE and DELETE (and TRUNCATE on
  PostgreSQL), and on SQLite an INSERT whose key is already there (INSERT OR REPLACE).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "override_events"
WHEN = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    text, required = sa.Text(), {"nullable": False}
    op.create_table(
        TABLE,
        sa.Column("event_id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("experiment", text, **required),
        sa.Column("area_id", text, **required),
        sa.Column("period", text, **required),
        sa.Column("action", text, **required),
        sa.Column("level", text),
        sa.Column("model_level", text),
        sa.Column("model_version", text),
        sa.Column("reason_code", text),
        sa.Column("note", text),
        sa.Column("who", text, **required),
        sa.Column("at", WHEN, **required),
        sa.Column("prev_hash", text),
        sa.Column("row_hash", text),
    )
    op.create_index("ix_override_events_experiment_area_period", TABLE,
                    ["experiment", "area_id", "period"])
    op.create_index("ux_override_events_prev_hash", TABLE, ["prev_hash"], unique=True)
    if op.get_bind().dialect.name == "postgresql":  # as 0001 makes its tables append-only
        op.execute(f"CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{TABLE} is append-only'; "
                   "END $$")
        op.execute(f"CREATE OR REPLACE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE OR "
                   f"TRUNCATE ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION "
                   f"{TABLE}_append_only()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_{action.lower()} BEFORE {action} "
                   f"ON {TABLE} BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")
    # as 0003: INSERT OR REPLACE would delete the old row without firing its DELETE trigger
    op.execute(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_replace BEFORE INSERT ON {TABLE} "
               f"WHEN EXISTS (SELECT 1 FROM {TABLE} WHERE event_id = NEW.event_id) "
               f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")


def downgrade() -> None:
    op.drop_table(TABLE)  # its indexes and triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE}_append_only()")
