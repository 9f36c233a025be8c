"""Indexes for the store's two frequent unindexed lookups.

Revision ID: 0002
Revises: 0001

- ``forecast_vintages (experiment, source, model_version)``: every service start and every
  recorded backtest asks whether a vintage of this experiment, source and model exists
  (``Store.vintages`` with all three filters); the older index covers experiment only.
- ``warnings (status, level)``: ``riskgrid warnings list --status ... --level ...``
  (``Store.query_warnings``) filters on the status, which no index covered.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_forecast_vintages_experiment_source_model": (
        "forecast_vintages", ["experiment", "source", "model_version"]),
    "ix_warnings_status_level": ("warnings", ["status", "level"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
