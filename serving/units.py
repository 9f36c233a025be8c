"""Scores of communities, streets, districts and the city, added up from their grids' scores.

A unit's expected count is the sum of its grids' expected counts and its interval is the
Poisson interval of that sum (grid counts are modelled as independent Poisson counts, and a
sum of independent Poisson counts is Poisson), not the sum of the grids' intervals. Its risk
probability is the chance that at least one of its grids is high-risk, 1 - prod(1 - p), which
assumes the grids' flags are independent given the forecasts (neighbouring grids that move
together make the true chance lower). Levels follow the same thresholds and alert budget as
grids, among the units of the same level. README.md (the scoring API) explains each figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import poisson

from riskgrid import vocabulary as C
from riskgrid.experiment import WarningsConfig
from serving.warnings import levels

UNIT_LEVELS = ("community", "street", "district", "city")


def memberships(areas: pd.DataFrame, area_ids: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """Every unit above the grids: its level and the positions of its grids in ``area_ids``."""
    by_grid = areas.assign(**{C.AREA_ID: areas[C.AREA_ID].astype(str)}).set_index(C.AREA_ID)
    by_grid = by_grid.reindex([str(a) for a in area_ids])
    out: dict[str, tuple[str, np.ndarray]] = {C.CITY: (C.CITY, np.arange(len(area_ids)))}
    for level in ("community", "street", "district"):
        column = C.LEVEL_ID[level]
        if column not in by_grid:
            continue
        ids = by_grid[column].astype("string").to_numpy()
        for unit, where in pd.Series(np.arange(len(ids))).groupby(ids, sort=True).groups.items():
            out.setdefault(str(unit), (level, np.sort(np.asarray(where, dtype=np.int64))))
    return out


def unit_table(frame: pd.DataFrame, members: dict[str, tuple[str, np.ndarray]], level: str,
               config: WarningsConfig, interval: float) -> pd.DataFrame:
    """Every unit of ``level`` scored from the grids of one horizon (``frame``, in snapshot
    order): area_id, horizon, expected_count, low, high, risk_probability, risk_level, rank,
    percentile, grids."""
    units = sorted(u for u, (lv, _) in members.items() if lv == level)
    expected = frame["expected_count"].to_numpy(np.float64)
    probability = frame["risk_probability"].to_numpy(np.float64)
    total = np.array([expected[members[u][1]].sum() for u in units])
    # log1p keeps 1 - prod(1 - p) exact for many small probabilities
    any_high = np.array([-np.expm1(np.log1p(-np.clip(probability[members[u][1]], 0, 1)).sum())
                         for u in units])
    tail = (1 - interval) / 2
    out = pd.DataFrame({C.AREA_ID: units, "horizon": int(frame["horizon"].iat[0]),
                        "expected_count": total, "low": poisson.ppf(tail, total),
                        "high": poisson.ppf(1 - tail, total), "risk_probability": any_high,
                        "grids": [len(members[u][1]) for u in units]})
    out["risk_level"] = levels(out, config).to_numpy()
    order = np.lexsort((out[C.AREA_ID].to_numpy(), -total, -any_high))
    rank = np.empty(len(out), np.int64)
    rank[order] = np.arange(1, len(out) + 1)
    out["rank"] = rank
    below = np.searchsorted(np.sort(any_high), any_high, side="left")
    out["percentile"] = np.round(100.0 * below / max(len(out) - 1, 1), 1)
    return out


def unit_drivers(contributions: np.ndarray, values: np.ndarray, where: np.ndarray, n: int
                 ) -> list[tuple[int, float, float | None]]:
    """The ``n`` features whose contributions, summed over the unit's grids, are largest in
    size: (feature index, summed contribution, mean value over the grids or None)."""
    summed = contributions[where].sum(axis=0)
    top = np.argsort(-np.abs(summed), kind="stable")[:n]
    chosen = values[where][:, top]
    seen = ~np.isnan(chosen)
    means = np.where(seen.any(axis=0), np.nansum(chosen, axis=0) / np.maximum(seen.sum(axis=0), 1),
                     np.nan)
    return [(int(j), float(summed[j]), None if np.isnan(m) else float(m))
            for j, m in zip(top, means)]
