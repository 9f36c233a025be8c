"""The forecast ledger's tables: vintages of forecasts, never replaced (serving/ledger.py builds
the rows)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from serving.store import chain
from serving.store.connection import Database, check_choice, chunks, now, to_frame
from serving.store.schema import SOURCES, forecast_vintages, forecasts_table

if TYPE_CHECKING:  # pandas loads where a table is returned, not with the store
    import pandas as pd

_VINTAGE_FIELDS = ("source", "experiment", "as_of", "model_version", "fingerprint")


class Forecasts(Database):
    """The forecast vintages of the store."""

    def save_vintages(self, batches: Sequence[tuple[Mapping[str, Any], Sequence[Mapping]]]
                      ) -> list[str]:
        """Store forecast vintages, each (source, experiment, as_of, model_version, fingerprint)
        with its forecast rows, in one transaction; never replaces an earlier vintage.

        Returns:
            The new vintages' ids, in the order given.
        """
        issued_at, ids, vintages, rows = now(), [], [], []
        for meta, forecasts in batches:
            vintage_id = secrets.token_hex(8)
            ids.append(vintage_id)
            vintages.append({**{k: meta[k] for k in _VINTAGE_FIELDS}, "vintage_id": vintage_id,
                             "issued_at": issued_at, "forecasts": len(forecasts)})
            rows += [{**row, "vintage_id": vintage_id} for row in forecasts]
        if not vintages:
            return []
        for vintage, (_, forecasts) in zip(vintages, batches, strict=True):
            vintage["_forecasts"] = chain.forecasts_digest(forecasts)
        with self._writing() as conn:
            chain.lock(conn, forecast_vintages)
            previous, seq = chain.head(conn, forecast_vintages)
            linked = chain.link(forecast_vintages, vintages, previous)
            for number, vintage in enumerate(linked, start=seq + 1):
                vintage["seq"] = number
            conn.execute(insert(forecast_vintages), linked)
            if rows:
                conn.execute(insert(forecasts_table),
                             [chain.normal(forecasts_table, row) for row in rows])
        return ids

    def vintages(self, experiment: str | None = None, source: str | None = None,
                 model_version: str | None = None) -> pd.DataFrame:
        """Forecast vintages matching every filter given, newest as-of (then issue) first."""
        check_choice("source", source, SOURCES, "filter")
        t = forecast_vintages.c
        filters = [column == value for column, value in
                   ((t.experiment, experiment), (t.source, source),
                    (t.model_version, model_version)) if value is not None]
        query = select(forecast_vintages).where(*filters).order_by(
            t.as_of.desc(), t.issued_at.desc(), t.vintage_id)
        columns = [c for c in forecast_vintages.columns.keys()
                   if c not in ("seq", "prev_hash", "row_hash")]
        with self._reading() as conn:
            frame = to_frame(conn.execute(query.with_only_columns(
                *(forecast_vintages.c[c] for c in columns))), columns)
        return frame.astype({"forecasts": "int64"})

    def forecasts(self, experiment: str | None = None,
                  vintage_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Every stored forecast (one row per vintage, area and horizon) with its vintage's
        source, experiment, as_of, model_version, fingerprint and issued_at."""
        import pandas as pd

        v = forecast_vintages.c
        columns = [*forecasts_table.columns,
                   *(v[name] for name in (*_VINTAGE_FIELDS, "issued_at"))]
        filters = [v.experiment == experiment] if experiment is not None else []
        joined = forecasts_table.join(forecast_vintages)
        parts = []
        with self._reading() as conn:
            for chunk in chunks(vintage_ids):
                where = filters if chunk is None else [*filters, v.vintage_id.in_(chunk)]
                parts.append(to_frame(conn.execute(select(*columns).select_from(joined)
                                                 .where(*where)), [c.name for c in columns]))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.astype({"horizon": "int64", "expected_count": "float64", "low": "float64",
                             "high": "float64", "risk_probability": "float64"})
