"""Past periods as the ledger holds them: which as-of periods have forecasts, and what they said.

The dashboard's as-of selector lists the periods below and shows a past period's forecasts as
they were issued then (the ledger's vintage), never today's champion replayed over old data:
that model was trained on those periods, so its "forecasts" of them would be in-sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskgrid.errors import InputError
from serving.store import SOURCES, Store

# When one as-of period has several vintages, the one shown: what the service answered, then
# the batch scorer's, the meeting pack's and the backtest's; within a source, the newest.
PREFERENCE = {source: rank for rank, source in enumerate(("api", "batch", "report", "backtest"))}
assert set(PREFERENCE) == set(SOURCES)


def ledger_periods(store: Store, experiment: str) -> list[dict]:
    """One entry per as-of period with forecasts in the ledger, newest period first: as_of,
    vintage_id, source, model_version, issued_at (ISO) and the number of forecasts."""
    vintages = store.vintages(experiment=experiment)
    if vintages.empty:
        return []
    chosen = (vintages.assign(preference=vintages["source"].map(PREFERENCE),
                              issued=pd.to_datetime(vintages["issued_at"]))
              .sort_values(["as_of", "preference", "issued"], ascending=[False, True, False])
              .drop_duplicates("as_of"))
    return [{"as_of": str(row.as_of), "vintage_id": str(row.vintage_id),
             "source": str(row.source), "model_version": str(row.model_version),
             "issued_at": pd.Timestamp(row.issued_at).isoformat(),
             "forecasts": int(row.forecasts)} for row in chosen.itertuples(index=False)]


def ledger_vintage(store: Store, experiment: str, as_of: str) -> dict:
    """The vintage shown for ``as_of`` (an ISO date); InputError when the ledger has none."""
    for period in ledger_periods(store, experiment):
        if period["as_of"] == as_of:
            return period
    raise InputError(f"the forecast ledger holds no forecasts as of {as_of}; /periods lists "
                     "the periods it has (riskgrid score --as-of DATE records one)")


def ledger_scores(store: Store, vintage: dict, area_ids: list[str], horizon: int) -> list[dict]:
    """The vintage's forecasts of ``area_ids`` at ``horizon``, in the order asked, ranked as
    /score ranks (probability, then expected count) among every grid of the vintage.

    Areas the vintage does not cover are left out (a grid added since then has no past)."""
    frame = store.forecasts(vintage_ids=[vintage["vintage_id"]])
    frame = frame[frame["horizon"] == horizon].reset_index(drop=True)
    if frame.empty:
        raise InputError(f"the ledger's forecasts as of {vintage['as_of']} have no horizon "
                         f"{horizon}; ask for one of its horizons")
    rank, percentile = ranks(frame["risk_probability"].to_numpy(),
                             frame["expected_count"].to_numpy())
    frame = frame.assign(rank=rank, percentile=percentile).set_index("area_id")
    return [{"area_id": area, "horizon": horizon,
             "expected_count": float(row["expected_count"]),
             "interval": [float(row["low"]), float(row["high"])],
             "risk_probability": float(row["risk_probability"]),
             "risk_level": str(row["risk_level"]), "rank": int(row["rank"]),
             "percentile": float(row["percentile"]), "drivers": []}
            for area in area_ids if area in frame.index for row in [frame.loc[area]]]


def ranks(probability: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = highest probability, ties by expected count) and percentile of each row."""
    order = np.lexsort((-expected, -probability))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    below = np.searchsorted(np.sort(probability), probability, side="left")
    return rank, np.round(100.0 * below / max(len(order) - 1, 1), 1)
