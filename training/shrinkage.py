"""Training rows: zero-row sampling for sparse panels, and shrinkage toward long-run rates.

Both act on what the count booster learns, never on how it is used: the booster that comes
out is still the model's one count model, so its forecasts and TreeSHAP values stay one thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import TrainingConfig
from training.metrics import count_metrics, hotspot_metrics

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
        anchors: other rates it can be shrunk toward, by name (:data:`ANCHORS`); which one
            is chosen with the weight.
    """

    period: np.ndarray
    area_id: np.ndarray
    area_size: np.ndarray
    long_run: np.ndarray
    threshold: np.ndarray | None = None
    anchors: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, keep: np.ndarray) -> TrainingRows:
        return TrainingRows(self.period[keep], self.area_id[keep], self.area_size[keep],
                            self.long_run[keep],
                            None if self.threshold is None else self.threshold[keep],
                            {k: v[keep] for k, v in self.anchors.items()})

    def anchor(self, name: str) -> np.ndarray:
        return self.long_run if name == LONG_RUN else self.anchors[name]


LONG_RUN = "long_run"
# The maps a count model can be shrunk toward, by the panel column of each area's rate:
# its long-run mean, that mean smoothed over its neighbours, its recent decayed rate.
ANCHORS = {LONG_RUN: "{stream}_mean_all", "kernel_long_run": "{stream}_mean_all_kernel_1",
           "recent": "{stream}_ewm"}


def anchor_rates(panel: pd.DataFrame, stream: str, window: int,
                 names: list[str]) -> dict[str, np.ndarray]:
    """The anchors other than the long-run rate that the panel has, each at the city's level."""
    out = {}
    for name in names:
        column = ANCHORS[name].format(stream=stream)
        if name != LONG_RUN and column in panel:
            out[name] = long_run_rate(panel, stream, window, column)
    return out


def long_run_rate(panel: pd.DataFrame, stream: str, window: int,
                  column: str | None = None) -> np.ndarray:
    """Each row's long-run rate at the city's current level, from what is known at t.

    The area's long-run mean count times the city's recent rate (its last ``window``
    periods) over its long-run rate: the long-run map keeps where events happen, the
    recent periods say how many happen now (vehicle theft rose 2012-2016, so a plain
    long-run mean forecasts too few). Before the city has any history, the factor is 1.

    Args:
        column: the panel column of each area's rate (default: its long-run mean).
    """
    column = column or f"{stream}_mean_all"
    long_run = panel[column].to_numpy(np.float64)
    by_period = panel.groupby(C.PERIOD, sort=False)
    recent = by_period[f"{stream}_sum_{window}"].transform("sum").to_numpy(np.float64) / window
    total = by_period[column].transform("sum").to_numpy(np.float64)
    level = np.divide(recent, total, out=np.ones_like(total), where=total > 0)
    return np.nan_to_num(long_run * level)


def sample_weights(count: np.ndarray, flag: np.ndarray, config: TrainingConfig,
                   offset: int = 0, area: np.ndarray | None = None) -> np.ndarray:
    """Per row, the booster's weight: 0 (left out), 1, or more for a sampled zero row.

    Rows with an event (count or flag) are all kept with weight 1. With ``area``, of each
    area's rows with neither, ``config.zero_share`` are kept, spread evenly over its periods
    from a start drawn from the area's id (systematic sampling), and weighted by the area's
    zero rows over the ones kept: the weighted zeros of every area add up to its own, so each
    area's share of the losses the boosters minimise stays what it was (importance sampling)
    while they train on far fewer rows; an area's draws are the same in any block of whole
    areas. Without ``area``, a random ``zero_share`` of those rows is kept, weighted
    1 / share.

    Args:
        offset: without ``area``, the rows are rows offset.. of a longer sample (one block of
            it): each row gets the draw it gets in the whole sample.
    """
    weight = np.ones(len(count))
    if config.zero_share >= 1:
        return weight
    if area is None:
        empty = (count == 0) & (np.nan_to_num(flag) == 0)
        draws = np.random.default_rng(config.seed)
        draws.bit_generator.advance(offset)  # one 64-bit draw a row
        drawn = draws.random(len(count)) < config.zero_share
        weight[empty] = np.where(drawn[empty], 1 / config.zero_share, 0.0)
        return weight
    empty = np.flatnonzero((count == 0) & (np.nan_to_num(flag) == 0))
    codes, uniques = pd.factorize(area[empty])
    order = np.argsort(codes, kind="stable")  # each area's zero rows together, in time order
    codes, empty = codes[order], empty[order]
    firsts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    rank = np.arange(len(codes)) - np.repeat(firsts, np.diff(np.r_[firsts, len(codes)]))
    start = _area_starts(np.asarray(uniques, dtype=str), config.seed)[codes]
    # Row k is drawn when the running count (k + start) * share passes a whole number.
    drawn = (np.floor((rank + 1 + start) * config.zero_share)
             > np.floor((rank + start) * config.zero_share))
    zeros = np.bincount(codes).astype(np.float64)
    kept = np.bincount(codes, weights=drawn.astype(np.float64))
    scale = np.divide(zeros, kept, out=np.zeros_like(zeros), where=kept > 0)
    weight[empty] = np.where(drawn, scale[codes], 0.0)
    return weight


def _area_starts(ids: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) per area id, fixed by the id and the seed."""
    hashed = pd.util.hash_array(ids, hash_key=f"{seed:016d}"[:16])
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def shrunk_labels(count: np.ndarray, long_run: np.ndarray, weight: float) -> np.ndarray:
    """``weight * count + (1 - weight) * long_run``: a booster fitted on these labels forecasts
    the same blend of its own conditional mean and the area's long-run rate."""
    if weight >= 1:
        return count
    return weight * count + (1 - weight) * long_run


@dataclass(frozen=True)
class Choice:
    """What a count model chose on its inner validation slice, and the score it got there."""

    rounds: int
    weight: float
    score: float
    anchor: str = LONG_RUN


def choose_weight(forecast: np.ndarray, count: np.ndarray, rows: TrainingRows,
                  config: TrainingConfig) -> float:
    """The candidate weight whose blend of ``forecast`` and the long-run rate scores best."""
    return choose({config.num_boost_round: forecast}, count, rows, config).weight


def choose(forecasts: dict[int, np.ndarray], count: np.ndarray, rows: TrainingRows,
           config: TrainingConfig) -> Choice:
    """The rounds and the weight whose blend of forecast and long-run rate scores best.

    Args:
        forecasts: by number of boosting rounds, a count booster's forecasts of rows it did
            not train on (the inner validation slice), ``count`` their targets and ``rows``
            their context.

    The score is the experiment's primary metric when it judges counts or hotspot maps,
    otherwise the Poisson deviance. Below weight 1 each of ``config.anchors`` the rows have
    is tried. Ties go to the larger weight (less shrinkage), the long-run rate, then fewer
    rounds; at weight 0 the rounds are the most. With ``config.rounds_by = "loss"`` the
    rounds are first chosen alone, by the Poisson deviance of the unblended forecasts.
    """
    if config.rounds_by == "loss" and len(forecasts) > 1:
        # The rounds by the booster's own loss on the slice, the blend by the primary metric.
        deviance = {r: count_metrics(count, f)["poisson_deviance"] for r, f in forecasts.items()}
        best_rounds = min(sorted(forecasts), key=deviance.get)
        forecasts = {best_rounds: forecasts[best_rounds]}
    metric = selection_metric(config.primary_metric)
    lower = metric in _COUNT_METRICS
    weights = sorted(set(config.shrinkage_weights), reverse=True)
    anchors = [LONG_RUN, *(a for a in config.anchors if a in rows.anchors)]
    best: Choice | None = None
    pairs = [(w, a) for w in weights for a in (anchors if w < 1 else [LONG_RUN])]
    for w, anchor in pairs:
        for rounds in sorted(forecasts) if w > 0 else [max(forecasts)]:
            # At weight 0 the forecast plays no part: the booster learns the anchor itself
            # and gets every round to do so.
            blend = shrunk_labels(forecasts[rounds], rows.anchor(anchor), w)
            value = _score(blend, count, rows, metric)[metric]
            if np.isnan(value):
                continue
            if best is None or (value < best.score if lower else value > best.score):
                best = Choice(rounds, w, value, anchor)
    return best or Choice(max(forecasts), weights[0], float("nan"))


def selection_metric(primary: str) -> str:
    """The metric nested choices use: the primary one if it judges counts or maps."""
    if primary.startswith(_HOTSPOT_PREFIXES) and _share(primary) is not None:
        return primary
    return primary if primary in _COUNT_METRICS else COUNT_METRIC


def _share(metric: str) -> float | None:
    try:
        return float(metric.split("@")[1].rstrip("%")) / 100
    except ValueError:
        return None  # e.g. a map judged by absolute area


def _score(blend: np.ndarray, count: np.ndarray, rows: TrainingRows,
           metric: str) -> dict[str, float]:
    if metric.startswith(_HOTSPOT_PREFIXES):
        share = (_share(metric),)
        return hotspot_metrics(pd.DataFrame({
            C.PERIOD: rows.period, C.AREA_ID: rows.area_id, "y_true": count,
            "score": blend / rows.area_size, "area_size": rows.area_size}), share, share)
    return count_metrics(count, blend)
