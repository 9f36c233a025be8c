"""Backtest scoring: count errors, risk calibration, hotspot accuracy (PAI/PEI) and skill."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, mean_poisson_deviance, roc_auc_score

from riskgrid import vocabulary as C

# Columns of the frame hotspot_metrics reads (besides C.PERIOD and C.AREA_ID).
Y_TRUE = "y_true"
SCORE = "score"
AREA_SIZE = "area_size"
HOTSPOT_COLUMNS = (C.PERIOD, C.AREA_ID, Y_TRUE, SCORE, AREA_SIZE)

LOWER_IS_BETTER: frozenset[str] = frozenset({"poisson_deviance", "mae", "rmse", "brier", "ece",
                                             "crps", "tied_share"})
_SCORES = frozenset({"roc_auc", "pr_auc"})
_SCORE_PREFIXES = ("hit_rate@", "pai@", "pei@")

_MIN_PREDICTION = 1e-9
# Relative slack on the area budget, so that 5% of 100 equal cells flags 5 of them even when
# float rounding puts the cumulative area a hair above share * total.
_AREA_SLACK = 1e-9


# --- counts --------------------------------------------------------------------------------

def count_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Errors of forecast event counts: poisson_deviance (mean), mae, rmse, and count_ratio.

    Predictions are clipped to >= 1e-9 for the deviance only (a zero forecast of a
    non-zero count has infinite deviance); mae and rmse use them as given. count_ratio is
    the forecast events over the events that happened (1: right in total; NaN with no
    event): a model far from 1 is biased before any ranking is judged.
    """
    y, mu = _paired(y_true, y_pred, "y_true", "y_pred")
    error = mu - y
    events = float(y.sum())
    return {
        "poisson_deviance": float(mean_poisson_deviance(y, np.clip(mu, _MIN_PREDICTION, None))),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "count_ratio": float(mu.sum() / events) if events > 0 else float("nan"),
    }


# --- risk probabilities --------------------------------------------------------------------

def risk_metrics(flag: np.ndarray, probability: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Discrimination and calibration of risk probabilities against 0/1 outcomes.

    Returns roc_auc, pr_auc (average precision), brier and ece. roc_auc and pr_auc are NaN
    when ``flag`` holds a single class, since no ranking can be judged then.
    """
    y, p = _flags_and_probabilities(flag, probability)
    both_classes = 0 < y.sum() < y.size
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both_classes else float("nan"),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": _ece(_calibration_bins(y, p, bins)),
    }


def tied_share(period: np.ndarray, probability: np.ndarray) -> float:
    """Share of forecasts whose probability another area of the same period also has: the
    plateaus on which a ranking by probability cannot tell areas apart."""
    frame = pd.DataFrame({"period": np.asarray(period), "p": np.asarray(probability, float)})
    return float(frame.duplicated(["period", "p"], keep=False).mean()) if len(frame) else 0.0


def expected_calibration_error(flag: np.ndarray, probability: np.ndarray,
                               bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by bin size."""
    return _ece(_calibration_bins(*_flags_and_probabilities(flag, probability), bins))


def calibration_table(flag: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability-diagram data: one row per equal-width bin of the probability.

    Bin ``i`` holds probabilities in ``[i / bins, (i + 1) / bins)`` (the last bin includes 1).
    Every bin has a row; empty bins have count 0 and NaN rates, so plots can drop them.

    Returns:
        Columns bin, mean_predicted, observed_rate, count.
    """
    return _calibration_bins(*_flags_and_probabilities(flag, probability), bins)


def _calibration_bins(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    if bins < 1:
        raise ValueError(f"bins must be a positive integer; got {bins}.")
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins)
    return pd.DataFrame({
        "bin": np.arange(bins),
        "mean_predicted": _ratio(np.bincount(index, weights=p, minlength=bins), count),
        "observed_rate": _ratio(np.bincount(index, weights=y, minlength=bins), count),
        "count": count,
    })


def _ece(table: pd.DataFrame) -> float:
    used = table["count"].to_numpy() > 0
    gap = np.abs(table["mean_predicted"].to_numpy() - table["observed_rate"].to_numpy())
    weight = table["count"].to_numpy()[used]
    return float(np.sum(gap[used] * weight) / weight.sum())


# --- hotspots ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Map:
    """One row per (period, area), with periods and areas coded 0..n-1 in sorted order."""

    period: np.ndarray
    area: np.ndarray
    y: np.ndarray
    size: np.ndarray
    score: np.ndarray
    n_periods: int

    def per_period(self, values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        period = self.period if rows is None else self.period[rows]
        return np.bincount(period, weights=values, minlength=self.n_periods)


def hotspot_metrics(frame: pd.DataFrame, shares: Sequence[float] = (0.01, 0.05, 0.10),
                    pei_shares: Sequence[float] = (0.05,)) -> dict[str, float]:
    """Hit rate, PAI and PEI of the areas a forecast would flag, averaged over periods.

    Per period, areas are ranked by score (descending; ties by area_id; NaN scores last) and
    flagged in that order while their cumulative area_size stays within share * total area;
    the first area is always flagged. The first area that does not fit ends the list.
    hit_rate = events caught / events; pai = hit_rate / (flagged area / total area);
    pei = events caught / n*, with n* the most the best ranking (by y_true, or by y_true per
    unit area when sizes differ) catches under the same rule within the flagged area, and
    never less than the forecast's own catch.

    Args:
        frame: Columns period, area_id, y_true (events), score (forecast), area_size (> 0).
            An area absent from a period is not part of that period's map.
        shares: Area shares for hit_rate and pai.
        pei_shares: Area shares for pei.

    Returns:
        ``hit_rate@1%``, ``pai@1%``, ... and ``pei@5%``: means over the periods with at
        least one event (for pei: with n* > 0), NaN when there are none.
    """
    return {name: _mean(values) for name, values in
            hotspot_by_period(frame, shares, pei_shares).items()}


def hotspot_by_period(frame: pd.DataFrame, shares: Sequence[float] = (0.01, 0.05, 0.10),
                      pei_shares: Sequence[float] = (0.05,)) -> dict[str, np.ndarray]:
    """The figures of :func:`hotspot_metrics` for each period (in period order), before
    they are averaged: NaN in a period without events (for pei: with n* = 0)."""
    m = _hotspot_map(frame)
    events = m.per_period(m.y)
    area = m.per_period(m.size)
    ranked = _order(m.period, -m.score, m.area)
    cumulative = _cumulative(m.period[ranked], m.size[ranked])
    out: dict[str, np.ndarray] = {}
    for share in shares:
        caught, flagged_area = _flag(m, ranked, cumulative, share * area)
        hit = _ratio(caught, events)
        out[f"hit_rate@{_percent(share)}"] = hit
        out[f"pai@{_percent(share)}"] = hit / (flagged_area / area)
    for share in pei_shares:
        caught, flagged_area = _flag(m, ranked, cumulative, share * area)
        best = np.maximum(_best_catch(m, flagged_area), caught)
        out[f"pei@{_percent(share)}"] = _ratio(caught, best)
    return out


def hotspot_area_metrics(frame: pd.DataFrame, area_km2: float) -> dict[str, float]:
    """Hit rate, PAI and PEI of a fixed flagged area, as the NIJ challenge scored hotspot maps.

    Per period, areas are ranked by score (the expected count, not a density; ties by
    area_id; NaN last) and flagged in that order until ``area_km2`` is covered: the area that
    crosses the budget is flagged too, so 0.25 sq mi of 600 ft cells is 20 cells. The figures
    pool the periods (as the challenge pooled its weeks): hit_rate = events caught / events;
    pai = hit_rate / (flagged area / total area); pei = events caught / n*, n* the most the
    best ranking (by events, or events per unit area) catches within the same flagged area.

    Args:
        frame: Columns period, area_id, y_true, score, area_size (km2, > 0).
        area_km2: The area to flag each period, in km2 (the whole map if it is larger).

    Returns:
        ``hit_rate@area``, ``pai@area`` and ``pei@area``; NaN when no period has an event.
    """
    m, caught, flagged, best = _area_flags(frame, area_km2)
    events = m.y.sum()
    total = m.size.sum()
    if events <= 0:
        return {"hit_rate@area": float("nan"), "pai@area": float("nan"),
                "pei@area": float("nan")}
    hit = caught.sum() / events
    return {"hit_rate@area": float(hit), "pai@area": float(hit / (flagged.sum() / total)),
            "pei@area": float(caught.sum() / best.sum())}


def hotspot_area_by_period(frame: pd.DataFrame, area_km2: float) -> dict[str, np.ndarray]:
    """The figures of :func:`hotspot_area_metrics` for each period (in period order), before
    they are pooled: NaN in a period without events (for pei: with n* = 0)."""
    m, caught, flagged, best = _area_flags(frame, area_km2)
    hit = _ratio(caught, m.per_period(m.y))
    return {"hit_rate@area": hit, "pai@area": hit / (flagged / m.per_period(m.size)),
            "pei@area": _ratio(caught, best)}


def _area_flags(frame: pd.DataFrame, area_km2: float
                ) -> tuple[_Map, np.ndarray, np.ndarray, np.ndarray]:
    """The map, and per period the events caught, the area flagged and n* when the areas
    with the highest scores are flagged until ``area_km2`` is covered."""
    if not area_km2 > 0:
        raise ValueError(f"the flagged area must be positive; got {area_km2} km2.")
    m = _hotspot_map(frame)
    ranked = _order(m.period, -m.score, m.area)
    before = _cumulative(m.period[ranked], m.size[ranked]) - m.size[ranked]
    rows = ranked[before < area_km2 * (1 - _AREA_SLACK)]
    caught = m.per_period(m.y[rows], rows)
    flagged = m.per_period(m.size[rows], rows)
    return m, caught, flagged, np.maximum(_best_catch(m, flagged), caught)


def _flag(m: _Map, ranked: np.ndarray, cumulative: np.ndarray,
          budget: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events caught and area flagged per period by the greedy prefix of ``ranked``."""
    period = m.period[ranked]
    flagged = cumulative <= budget[period] * (1 + _AREA_SLACK)
    flagged[_firsts(period)] = True
    rows = ranked[flagged]
    return m.per_period(m.y[rows], rows), m.per_period(m.size[rows], rows)


def _best_catch(m: _Map, budget: np.ndarray) -> np.ndarray:
    """Events the best map catches per period within ``budget`` (the NIJ's n*).

    Greedy prefixes, among the areas that fit the budget on their own, of two rankings:
    by events and by events per unit area (ties: smaller area, then area_id); the larger
    catch counts. Exact for equal areas; a lower bound of the true optimum otherwise.
    """
    # Areas without events add nothing to n*, so only the others need ranking.
    fits = np.flatnonzero((m.size <= budget[m.period] * (1 + _AREA_SLACK)) & (m.y > 0))
    period, area, size, y = m.period[fits], m.area[fits], m.size[fits], m.y[fits]
    best = np.zeros(m.n_periods)
    for key in (y, y / size):
        order = _order(period, -key, size, area)
        flagged = _cumulative(period[order], size[order]) <= (
            budget[period[order]] * (1 + _AREA_SLACK))
        rows = fits[order[flagged]]
        best = np.maximum(best, m.per_period(m.y[rows], rows))
    return best


def _hotspot_map(frame: pd.DataFrame) -> _Map:
    """The frame's columns as coded arrays, after checking what the metrics rely on."""
    missing = [c for c in HOTSPOT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the hotspot frame lacks column(s) {missing}; "
                         f"it needs {list(HOTSPOT_COLUMNS)}.")
    period, periods = pd.factorize(frame[C.PERIOD], sort=True)
    area, areas = pd.factorize(frame[C.AREA_ID], sort=True)
    if (period < 0).any() or (area < 0).any():
        raise ValueError(f"'{C.PERIOD}' and '{C.AREA_ID}' must not be missing.")
    if pd.Series(period.astype(np.int64) * len(areas) + area).duplicated().any():
        raise ValueError(f"the hotspot frame repeats a ({C.PERIOD}, {C.AREA_ID}) pair; "
                         "give each area one row per period.")
    y = frame[Y_TRUE].to_numpy(dtype=float, na_value=np.nan)
    size = frame[AREA_SIZE].to_numpy(dtype=float, na_value=np.nan)
    if not (y >= 0).all():
        raise ValueError(f"'{Y_TRUE}' must be a non-negative event count in every row.")
    if not (size > 0).all():
        raise ValueError(f"'{AREA_SIZE}' must be positive in every row.")
    return _Map(period=period, area=area, y=y, size=size,
                score=frame[SCORE].to_numpy(dtype=float, na_value=np.nan), n_periods=len(periods))


def _cumulative(period: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Running area within each period (rows sorted by period)."""
    return pd.Series(size).groupby(period, sort=False).cumsum().to_numpy()


def _firsts(period: np.ndarray) -> np.ndarray:
    """Positions where a new period starts (rows sorted by period)."""
    return np.flatnonzero(np.r_[True, period[1:] != period[:-1]]) if period.size else period


def _order(*keys: np.ndarray) -> np.ndarray:
    """Row order by ``keys``, most significant first, ascending, NaN last (stable).

    Same as ``np.lexsort(keys[::-1])``, but sorts one int64 composite of the keys' dense
    ranks, several times faster on millions of rows; lexsort remains for huge key spaces.
    Integer keys must be codes 0..n-1.
    """
    ranked = [_dense(key) for key in keys]
    if np.prod([float(max(n, 1)) for _, n in ranked]) >= 2.0**62:
        return np.lexsort(keys[::-1])
    composite = np.zeros(len(keys[0]), dtype=np.int64)
    for rank, n in ranked:
        composite = composite * max(n, 1) + rank
    return np.argsort(composite, kind="stable")


def _dense(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ranks 0..n-1 of a key and n (equal values, NaNs included, share a rank)."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False), int(values.max(initial=-1)) + 1
    order = np.argsort(values)
    v = values[order]
    same = (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
    rank = np.empty(v.size, dtype=np.int64)
    rank[order] = np.cumsum(np.r_[v.size > 0, ~same]) - 1
    return rank, int(rank.max(initial=-1)) + 1


def _percent(share: float) -> str:
    if not 0 < share <= 1:
        raise ValueError(f"area shares must lie in (0, 1]; got {share}.")
    return f"{round(share * 100, 6):g}%"


# --- skill ---------------------------------------------------------------------------------

def skill(model: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]],
          metric: str) -> dict[str, float | str]:
    """Improvement of the model over the best baseline on one metric.

    Losses (LOWER_IS_BETTER) give the relative reduction (best - model) / best; scores give
    the difference model - best. Baselines without a finite value are ignored; if none is
    left, best_baseline is "" and the improvement NaN. Ties go to the first baseline given.

    Returns:
        metric, best_baseline (name), baseline_value, model_value, improvement.
    """
    lower = _lower_is_better(metric)
    if metric not in model:
        raise ValueError(f"the model's metrics lack '{metric}'; it has {sorted(model)}.")
    value = float(model[metric])
    candidates = {name: float(m[metric]) for name, m in baselines.items()
                  if metric in m and np.isfinite(m[metric])}
    if not candidates:
        return {"metric": metric, "best_baseline": "", "baseline_value": float("nan"),
                "model_value": value, "improvement": float("nan")}
    pick = min if lower else max
    name = pick(candidates, key=candidates.__getitem__)
    best = candidates[name]
    if not lower:
        improvement = value - best
    elif best != 0:
        improvement = (best - value) / best
    else:  # a perfect baseline: the model can only match it or be infinitely worse
        improvement = 0.0 if value == 0 else float("-inf")
    return {"metric": metric, "best_baseline": name, "baseline_value": best,
            "model_value": value, "improvement": improvement}


def _lower_is_better(metric: str) -> bool:
    if metric in LOWER_IS_BETTER:
        return True
    if metric in _SCORES or metric.startswith(_SCORE_PREFIXES):
        return False
    raise ValueError(f"unknown metric '{metric}'; use one of {sorted(LOWER_IS_BETTER | _SCORES)} "
                     "or hit_rate@*, pai@*, pei@*.")


# --- shared --------------------------------------------------------------------------------

def _paired(a: np.ndarray, b: np.ndarray, a_name: str,
            b_name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float).ravel()
    z = np.asarray(b, dtype=float).ravel()
    if x.size != z.size or x.size == 0:
        raise ValueError(f"{a_name} and {b_name} have {x.size} and {z.size} values; "
                         "they must be the same, non-zero length.")
    if not (np.isfinite(x).all() and np.isfinite(z).all()):
        raise ValueError(f"{a_name} and {b_name} must not contain NaN or infinite values.")
    return x, z


def _flags_and_probabilities(flag: np.ndarray,
                             probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = _paired(flag, probability, "flag", "probability")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("flag must hold only 0/1 or False/True outcomes.")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"probability must lie in [0, 1]; got values from {p.min()} "
                         f"to {p.max()}.")
    return y, p


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    out = np.full(np.shape(numerator), np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _mean(values: np.ndarray) -> float:
    """Mean over the finite values (periods where the metric is defined); NaN if none."""
    kept = values[np.isfinite(values)]
    return float(kept.mean()) if kept.size else float("nan")
