"""Hierarchical coherence: grid forecasts summed up the hierarchy, against Prophet's own.

Grid forecasts add up to every level by construction (bottom-up). The report compares those
sums with Prophet forecasts made directly for each district and the city from the same
origin, and scores both against what happened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from training.backtest import BacktestResult
from training.trend import TrendConfig, forecast_units

LEVELS = ("district", "city")


def bottom_up(predictions: pd.DataFrame, areas: pd.DataFrame, level: str) -> pd.DataFrame:
    """Horizon-1 grid forecasts and outcomes summed to ``level`` per origin period."""
    rows = predictions[predictions["horizon"] == 1]
    if level == "city":
        unit = pd.Series(C.CITY, index=rows.index)
    else:
        unit = rows[C.AREA_ID].map(areas.set_index(C.AREA_ID)[C.LEVEL_ID[level]])
    grouped = rows.assign(unit_id=unit).groupby(["fold", "unit_id", C.PERIOD])
    return grouped[["model_count", "y"]].sum().reset_index()


def coherence_report(result: BacktestResult, areas: pd.DataFrame, counts: pd.DataFrame,
                     period: str, stream: str) -> dict[str, dict[str, float]]:
    """Per level: the gap between bottom-up sums and Prophet, and the error of each.

    ``coherence_gap`` is mean |bottom-up - Prophet| over mean actual count, so 0.1 means the
    two disagree by 10 % of a typical period's count.
    """
    step = _step(result)
    report = {}
    for level in LEVELS:
        summed = bottom_up(result.predictions, areas, level)
        direct = []
        for fold in result.folds:
            origin = fold.start - step
            length = round((fold.stop - fold.start) / step) + 1
            found = forecast_units(counts, level, stream, TrendConfig(period=period), length,
                                   as_of=origin)
            found = found[found["is_forecast"]].assign(fold=fold.number)
            # Prophet's value for period t+1 is compared with the grid forecast made at t.
            found[C.PERIOD] = found["ds"] - step
            direct.append(found[["fold", "unit_id", C.PERIOD, "yhat"]])
        merged = summed.merge(pd.concat(direct), on=["fold", "unit_id", C.PERIOD])
        scale = max(float(merged["y"].mean()), 1e-9)
        report[level] = {
            "units": int(merged["unit_id"].nunique()), "rows": len(merged),
            "coherence_gap": float(np.mean(np.abs(merged["model_count"] - merged["yhat"]))
                                   / scale),
            "mae_bottom_up": float(np.mean(np.abs(merged["model_count"] - merged["y"]))),
            "mae_prophet": float(np.mean(np.abs(merged["yhat"] - merged["y"]))),
        }
    return report


def _step(result: BacktestResult) -> pd.Timedelta:
    periods = np.sort(result.predictions[C.PERIOD].unique())
    return pd.Timedelta(periods[1] - periods[0])
