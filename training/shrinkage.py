"""Training rows: zero-row sampling for sparse panels, and shrinkage toward long-run rates.

Both act on what the count booster learns, never on how it is used: the booster that comes
out is still the model's one count model, so its forecasts and TreeSHAP values stay one thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import TrainingConfig
from training.metrics import count_metrics, hotspot_metrics, skill

# The fallback when the primary metric does not judge count forecasts (a risk metric).
COUNT_METRIC = "poisson_deviance"
_COUNT_METRICS = frozenset({"poisson_deviance", "mae", "rmse"})
_HOTSPOT_PREFIXES = ("hit_rate@", "pai@", "pei@")


@dataclass(frozen=True)
class TrainingRows:
    """What training knows about each row besides its inputs and targets (one entry a row).

    Attributes:
        period: the row's period t.
        area_id: the row's area.
        area_size: the area's size in km2 (1 where unknown), for hotspot metrics.
        long_run: the rate the count model can be shrunk toward (:func:`long_run_rate`).
        threshold: the count above which the flag is set (count-threshold flags only).
    """

    period: np.ndarray
    area_id: np.ndarray
    area_size: np.ndarray
    long_run: np.ndarray
    threshold: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> TrainingRows:
        return TrainingRows(self.period[keep], self.area_id[keep], self.area_size[keep],
                            self.long_run[keep],
                            None if self.threshold is None else self.threshold[keep])


def long_run_rate(panel: pd.DataFrame, stream: str, window: int) -> np.ndarray:
    """Each row's long-run rate at the city's current level, from what is known at t.

    The area's long-run mean count times the city's recent rate (its last ``window``
    periods) over its long-run rate: the long-run map keeps where events happen, the
    recent periods say how many happen now (vehicle theft rose 2012-2016, so a plain
    long-run mean forecasts too few). Before the city has any history, the factor is 1.
    """
    long_run = panel[f"{stream}_mean_all"].to_numpy(np.float64)
    by_period = panel.groupby(C.PERIOD, sort=False)
    recent = by_period[f"{stream}_sum_{window}"].transform("sum").to_numpy(np.float64) / window
    total = by_period[f"{stream}_mean_all"].transform("sum").to_numpy(np.float64)
    level = np.divide(recent, total, out=np.ones_like(total), where=total > 0)
    return np.nan_to_num(long_run * level)


def sample_weights(count: np.ndarray, flag: np.ndarray, config: TrainingConfig,
                   offset: int = 0) -> np.ndarray:
    """Per row, the booster's weight: 0 (left out) or 1 / share for a sampled zero row.

    Rows with an event (count or flag) are all kept with weight 1; of the rows with neither,
    a random ``config.zero_share`` is kept and weighted up, so every loss the boosters
    minimise keeps its expectation (importance sampling) while they train on far fewer rows.

    Args:
        offset: the rows are rows offset.. of a longer sample (one block of it): each row gets
            the draw it gets in the whole sample.
    """
    weight = np.ones(len(count))
    if config.zero_share >= 1:
        return weight
    empty = (count == 0) & (np.nan_to_num(flag) == 0)
    draws = np.random.default_rng(config.seed)
    draws.bit_generator.advance(offset)  # one 64-bit draw a row
    drawn = draws.random(len(count)) < config.zero_share
    weight[empty] = np.where(drawn[empty], 1 / config.zero_share, 0.0)
    return weight


def shrunk_labels(count: np.ndarray, long_run: np.ndarray, weight: float) -> np.ndarray:
    """``weight * count + (1 - weight) * long_run``: a booster fitted on these labels forecasts
    the same blend of its own conditional mean and the area's long-run rate."""
    if weight >= 1:
        return count
    return weight * count + (1 - weight) * long_run


def choose_weight(forecast: np.ndarray, count: np.ndarray, rows: TrainingRows,
                  config: TrainingConfig) -> float:
    """The candidate weight whose blend of ``forecast`` and the long-run rate scores best.

    Args:
        forecast: a count booster's forecasts of rows it did not train on (the calibration
            slice), ``count`` their targets and ``rows`` their context.

    The score is the experiment's primary metric when it judges counts or hotspot maps,
    otherwise the Poisson deviance. Ties go to the larger weight (less shrinkage).
    """
    candidates = sorted(set(config.shrinkage_weights), reverse=True)
    if len(candidates) == 1:
        return candidates[0]
    metric = config.primary_metric
    if not metric.startswith(_HOTSPOT_PREFIXES) and metric not in _COUNT_METRICS:
        metric = COUNT_METRIC
    scores = {str(w): _score(shrunk_labels(forecast, rows.long_run, w), count, rows, metric)
              for w in candidates}
    best = skill(scores[str(candidates[0])], scores, metric)["best_baseline"]
    return float(best) if best else candidates[0]


def _score(blend: np.ndarray, count: np.ndarray, rows: TrainingRows,
           metric: str) -> dict[str, float]:
    if metric.startswith(_HOTSPOT_PREFIXES):
        share = (float(metric.split("@")[1].rstrip("%")) / 100,)
        return hotspot_metrics(pd.DataFrame({
            C.PERIOD: rows.period, C.AREA_ID: rows.area_id, "y_true": count,
            "score": blend / rows.area_size, "area_size": rows.area_size}), share, share)
    return count_metrics(count, blend)
