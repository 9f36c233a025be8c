"""What each warning level promises, and the thresholds that kept it in the backtest.

A level's promise is a share: "at least 3 in 10 red forecasts came true". Its threshold is the
lowest calibrated probability at which the backtest's out-of-sample forecasts in the level's
band (at or above its threshold, below the next level's) kept that share, with at least
``promise_min_forecasts`` of them. Levels are settled highest first, so each band sits below
the one above it. docs/warnings.md explains the rule and its limits.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import WarningsConfig

LEVELS: tuple[str, ...] = C.WARNING_LEVELS  # highest first
PROBABILITY, FLAG, HORIZON = "risk_probability", "flag", "horizon"


def band_threshold(probability: np.ndarray, flag: np.ndarray, upper: float, promise: float,
                   min_forecasts: int) -> tuple[float, int, int] | None:
    """The lowest threshold t below ``upper`` at which forecasts with t <= p < upper came true
    at least ``promise`` of the time, with their count and hits; None when no t keeps it."""
    inside = probability < upper
    p, hit = probability[inside], flag[inside]
    order = np.argsort(-p, kind="stable")
    p, hit = p[order], hit[order]
    n = np.arange(1, len(p) + 1)
    hits = np.cumsum(hit)
    # a threshold is a probability value: all forecasts tied at it are in the band together
    last_of_value = np.r_[p[1:] != p[:-1], True]
    ok = last_of_value & (n >= min_forecasts) & (hits >= promise * n - 1e-12)
    if not ok.any():
        return None
    k = int(np.flatnonzero(ok)[-1])
    return float(p[k]), int(n[k]), int(hits[k])


def kept_promises(probability: np.ndarray, flag: np.ndarray, config: WarningsConfig
                  ) -> list[dict]:
    """Per level, highest first: its promise, threshold, and the backtest band behind it.

    ``source`` is ``backtest`` when the promise set the threshold, ``fixed`` when the level
    has no promise (the configured threshold stands) and ``not_kept`` when no threshold below
    the level above kept the promise: the level is then not issued at all.
    """
    probability = np.asarray(probability, np.float64)
    flag = (np.asarray(flag, np.float64) > 0).astype(np.float64)
    upper, out = math.inf, []
    for level in LEVELS:
        promise = config.promise.get(level)
        if promise is None:
            threshold = min(config.threshold(level), upper)
            band = (probability >= threshold) & (probability < upper)
            row = {"source": "fixed", "threshold": threshold}
        else:
            found = band_threshold(probability, flag, upper, promise,
                                   config.promise_min_forecasts)
            threshold = upper if found is None else found[0]
            band = (probability >= threshold) & (probability < upper)
            row = {"source": "not_kept" if found is None else "backtest",
                   "threshold": threshold}
        n, hits = int(band.sum()), int(flag[band].sum())
        out.append({"level": level, "promise": promise, **row, "forecasts": n, "came_true": hits,
                    "precision": hits / n if n else None})
        upper = threshold
    return out


def promised_config(config: WarningsConfig, kept: list[dict]) -> WarningsConfig:
    """The [warnings] section with each level's threshold as :func:`kept_promises` set it.

    A level not kept gets the threshold of the level above (an empty band: the higher level
    wins ties), or infinity for red, so it is never issued.
    """
    return config.model_copy(update={row["level"]: float(row["threshold"]) for row in kept})


def backtest_outcomes(predictions: pd.DataFrame, outcomes: pd.DataFrame, horizons: list[int],
                      period: str) -> tuple[np.ndarray, np.ndarray]:
    """Backtest probabilities at the warning horizons, and whether the flag came on.

    Args:
        predictions: the backtest's period (origin), area_id, horizon, model_probability.
        outcomes: area_id, period, flag (serving.ledger.panel_outcomes).
        horizons: the [warnings] horizons (pooled: one threshold serves them all).
        period: day, week or month, to step from the origin to the target period.
    """
    rows = predictions[predictions[HORIZON].isin(horizons)].dropna(subset=["model_probability"])
    origin = pd.to_datetime(rows[C.PERIOD])
    step = rows[HORIZON].astype(np.int64)
    if period == "month":
        target = pd.Series([o + pd.DateOffset(months=int(h)) for o, h in zip(origin, step)],
                           index=rows.index, dtype="datetime64[ns]")
    else:
        target = origin + pd.to_timedelta(step * (7 if period == "week" else 1), unit="D")
    frame = pd.DataFrame({C.AREA_ID: rows[C.AREA_ID].astype(str).to_numpy(),
                          C.PERIOD: target.to_numpy(),
                          PROBABILITY: rows["model_probability"].to_numpy(np.float64)})
    seen = outcomes.assign(**{C.AREA_ID: outcomes[C.AREA_ID].astype(str),
                              C.PERIOD: pd.to_datetime(outcomes[C.PERIOD])})
    joined = frame.merge(seen[[C.AREA_ID, C.PERIOD, FLAG]], on=[C.AREA_ID, C.PERIOD])
    return joined[PROBABILITY].to_numpy(np.float64), joined[FLAG].to_numpy(np.float64)


def settle_levels(config: WarningsConfig, predictions: pd.DataFrame | None,
                  outcomes: pd.DataFrame, period: str) -> tuple[WarningsConfig, list[dict]]:
    """The [warnings] section with the thresholds its promises set, and the table behind them.

    Without promises or without backtest predictions the configured thresholds stand (the
    table then says ``fixed`` for every level, with no backtest figures).
    """
    if not config.promise or predictions is None or predictions.empty:
        return config, [{"level": lv, "promise": config.promise.get(lv), "source": "fixed",
                         "threshold": config.threshold(lv), "forecasts": None,
                         "came_true": None, "precision": None} for lv in LEVELS]
    probability, flag = backtest_outcomes(predictions, outcomes, config.horizons, period)
    kept = kept_promises(probability, flag, config)
    return promised_config(config, kept), kept
