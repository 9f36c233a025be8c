"""Training rows: zero-row sampling for sparse panels, and shrinkage toward long-run rates.

Both act on what the count booster learns, never on how it is used: the booster that comes
out is still the model's one count model, so its forecasts and TreeSHAP values stay one thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from riskgrid import vocabulary as C
from riskgrid.experiment import TrainingConfig
from riskgrid.experiment.training import AREA_METRICS
from training.baselines import BANDWIDTHS, KERNEL_PREFIX, recent_mean
from training.metrics import hotspot_area_by_period, hotspot_by_period

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
# And the hotspot maps of the baselines, by the map each is: the count map of the last
# MAP_PERIODS periods, and that map smoothed by the narrowest kernel.
MAP_ANCHORS = {"year": None, "kernel_year": f"{KERNEL_PREFIX}{BANDWIDTHS[0]:g}"}


def anchor_rates(panel: pd.DataFrame, stream: str, window: int,
                 names: list[str]) -> dict[str, np.ndarray]:
    """The anchors other than the long-run rate that the panel has, each at the city's level."""
    out = {}
    for name in (n for n in names if n in ANCHORS):
        column = ANCHORS[name].format(stream=stream)
        if name != LONG_RUN and column in panel:
            out[name] = long_run_rate(panel, stream, window, column)
    return out


def map_rates(panel: pd.DataFrame, stream: str, window: int, names: list[str],
              smoothers: dict[str, sparse.csr_matrix]) -> dict[str, np.ndarray]:
    """The anchors of :data:`MAP_ANCHORS` among ``names``, each at the city's level.

    Args:
        smoothers: the kernel maps' smoothers (:func:`training.baselines.hotspot_smoothers`
            of the panel's areas, in panel order); a kernel anchor without one is left out.
    """
    wanted = [n for n in names if n in MAP_ANCHORS and
              (MAP_ANCHORS[n] is None or MAP_ANCHORS[n] in smoothers)]
    if not wanted:
        return {}
    recent = recent_mean(panel, stream)  # areas x periods, panel order
    out = {}
    for name in wanted:
        kernel = MAP_ANCHORS[name]
        values = recent if kernel is None else smoothers[kernel] @ recent
        out[name] = at_city_level(panel, stream, window, np.nan_to_num(values.ravel()))
    return out


def at_city_level(panel: pd.DataFrame, stream: str, window: int,
                  rate: np.ndarray) -> np.ndarray:
    """Each row's ``rate`` scaled so that the period's rates add up to the city's recent
    level (its mean count of the last ``window`` periods); unchanged where they add to 0."""
    by_period = panel.groupby(C.PERIOD, sort=False)
    recent = by_period[f"{stream}_sum_{window}"].transform("sum").to_numpy(np.float64) / window
    total = pd.Series(rate, index=panel.index).groupby(panel[C.PERIOD], sort=False).transform(
        "sum").to_numpy(np.float64)
    level = np.divide(recent, total, out=np.ones_like(total), where=total > 0)
    return np.nan_to_num(rate * level)


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
    return at_city_level(panel, stream, window, panel[column].to_numpy(np.float64))


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
    phase = _area_starts(np.asarray(uniques, dtype=str), config.seed)[codes]
    # Row k is drawn when the running count k * share + phase passes a whole number: one row
    # in every 1 / share, the first of them at a place of its own in each area (a phase
    # smaller than one row would draw every quiet area's zeros in the same periods).
    drawn = (np.floor((rank + 1) * config.zero_share + phase)
             > np.floor(rank * config.zero_share + phase))
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
    """The rounds, weight and anchor of the count model, from its forecasts of the slice.

    Args:
        forecasts: by number of boosting rounds, a count booster's forecasts of rows it did
            not train on (the inner validation slice), ``count`` their targets and ``rows``
            their context.

    The score is the experiment's primary metric when it judges counts or hotspot maps,
    otherwise the Poisson deviance. Below weight 1 each of ``config.anchors`` the rows have
    is tried; at weight 0 the rounds are the most (the forecast plays no part). With
    ``config.rounds_by = "loss"`` the rounds are first chosen alone, by the Poisson deviance
    of the unblended forecasts, and only the blend by the primary metric.

    Candidates are ranked from the most regularised (the least weight on the forecast, then
    the fewest rounds) to the least; the anchors of one weight compete on their scores. With
    ``config.choice_rule = "one_se"`` the most regularised candidate whose score is within
    one standard error of the best one's wins, the error that of their paired differences
    period by period: a candidate better only by the luck of a few periods does not beat a
    steadier one (the winner's curse of choosing among many candidates on one short slice).
    ``"best"`` takes the best score, ties going to the more regularised candidate.
    """
    if config.rounds_by == "loss" and len(forecasts) > 1:
        losses = [(r, r, _by_period(forecasts[r], count, rows, COUNT_METRIC))
                  for r in sorted(forecasts)]
        best_rounds, _ = _pick(losses, lower=True,
                               rule="best" if config.choice_rule == "best" else "one_se")
        forecasts = {best_rounds: forecasts[best_rounds]}
    metric = selection_metric(config.primary_metric)
    weights = sorted(set(config.shrinkage_weights))
    anchors = [LONG_RUN, *(a for a in config.anchors if a in rows.anchors and a != LONG_RUN)]
    scored, deviances = [], []
    for w in weights:
        for anchor in anchors if w < 1 else [LONG_RUN]:
            for rounds in sorted(forecasts) if w > 0 else [max(forecasts)]:
                blend = shrunk_labels(forecasts[rounds], rows.anchor(anchor), w)
                # How much of the booster the candidate takes: its weight, then its rounds.
                level = (w, rounds if w > 0 else 0)
                scored.append(((rounds, w, anchor), level,
                               _by_period(blend, count, rows, metric, config.hotspot_km2)))
                if config.choice_rule == "one_se_deviance":
                    deviances.append(np.nanmean(_by_period(blend, count, rows, COUNT_METRIC)))
    if config.choice_rule == "one_se_deviance":
        tied = _within_one_se(scored, lower=metric in _COUNT_METRICS)
        k = min(tied, key=lambda i: (deviances[i], scored[i][1], i))
        sign = 1.0 if metric in _COUNT_METRICS else -1.0
        (rounds, w, anchor), score = scored[k][0], float(np.nanmean(scored[k][2]))
        if not np.isfinite(sign * score):
            return Choice(max(forecasts), weights[-1], float("nan"))
        return Choice(rounds, w, score, anchor)
    (rounds, w, anchor), score = _pick(scored, lower=metric in _COUNT_METRICS,
                                       rule=config.choice_rule)
    if np.isnan(score):
        return Choice(max(forecasts), weights[-1], float("nan"))
    return Choice(rounds, w, score, anchor)


def _pick(scored: list[tuple[object, object, np.ndarray]], lower: bool,
          rule: str) -> tuple[object, float]:
    """The key and mean score of the candidate ``rule`` picks.

    Args:
        scored: (key, level, score of each period) of every candidate, a lower level being
            more regularised; NaN periods are left out.

    With ``"one_se"``, levels are tried from the lowest: a level's best candidate wins if its
    mean score is within one standard error of the best candidate's, the error of their
    paired differences period by period. With ``"best"``, the best mean score wins, ties
    going to the lower level, then the earlier candidate.
    """
    sign = 1.0 if lower else -1.0
    losses = [sign * values for _, _, values in scored]
    means = np.array([np.nanmean(v) if np.isfinite(v).any() else np.inf for v in losses])
    if not np.isfinite(means).any():
        return scored[-1][0], float("nan")
    order = sorted(range(len(scored)), key=lambda k: (means[k], scored[k][1], k))
    best = chosen = order[0]
    if rule == "one_se":
        for level in sorted({lv for _, lv, _ in scored}):
            k = next(k for k in order if scored[k][1] == level)  # the level's best
            diff = losses[k] - losses[best]
            diff = diff[np.isfinite(diff)]
            # (within one error, the bound itself included: a relative 1e-9 for rounding)
            if k == best or (diff.size > 1 and diff.mean() <= (1 + 1e-9) * diff.std(
                    ddof=1) / np.sqrt(diff.size)):
                chosen = k
                break
    return scored[chosen][0], float(sign * means[chosen])


def _within_one_se(scored: list[tuple[object, object, np.ndarray]], lower: bool) -> list[int]:
    """The candidates whose mean score is within one standard error of the best one's, the
    error of their paired differences period by period (the best one included); a candidate
    with no score is never among them unless none has one."""
    sign = 1.0 if lower else -1.0
    losses = [sign * values for _, _, values in scored]
    means = np.array([np.nanmean(v) if np.isfinite(v).any() else np.inf for v in losses])
    if not np.isfinite(means).any():
        return [len(scored) - 1]
    best = int(np.argmin(means))
    tied = []
    for k, loss in enumerate(losses):
        diff = loss - losses[best]
        diff = diff[np.isfinite(diff)]
        if k == best or (diff.size > 1 and diff.mean() <= (1 + 1e-9) * diff.std(ddof=1)
                         / np.sqrt(diff.size)):
            tied.append(k)
    return tied


def _by_period(blend: np.ndarray, count: np.ndarray, rows: TrainingRows,
               metric: str, area_km2: float | None = None) -> np.ndarray:
    """The metric of ``blend`` in each period of the rows (period order; NaN where a map
    metric is undefined). For the count metrics, the mean loss per row of the period:
    unit Poisson deviance, absolute or squared error. The maps of a fixed area flag
    ``area_km2`` by expected count; the maps of a share of the area, by density."""
    if metric in AREA_METRICS:
        return hotspot_area_by_period(pd.DataFrame({
            C.PERIOD: rows.period, C.AREA_ID: rows.area_id, "y_true": count, "score": blend,
            "area_size": rows.area_size}), area_km2)[metric]
    if metric.startswith(_HOTSPOT_PREFIXES):
        share = (_share(metric),)
        return hotspot_by_period(pd.DataFrame({
            C.PERIOD: rows.period, C.AREA_ID: rows.area_id, "y_true": count,
            "score": blend / rows.area_size, "area_size": rows.area_size}),
            share, share)[metric]
    if metric == "poisson_deviance":
        mu = np.clip(blend, 1e-9, None)
        ratio = np.divide(count, mu, out=np.ones_like(mu), where=count > 0)
        loss = 2 * (count * np.log(ratio) - (count - mu))
    elif metric == "mae":
        loss = np.abs(blend - count)
    else:
        loss = (blend - count) ** 2
    codes, _ = pd.factorize(rows.period, sort=True)
    return np.bincount(codes, weights=loss) / np.bincount(codes)


def selection_metric(primary: str) -> str:
    """The metric nested choices use: the primary one if it judges counts or maps."""
    if primary in AREA_METRICS or (primary.startswith(_HOTSPOT_PREFIXES)
                                   and _share(primary) is not None):
        return primary
    return primary if primary in _COUNT_METRICS else COUNT_METRIC


def _share(metric: str) -> float | None:
    try:
        return float(metric.split("@")[1].rstrip("%")) / 100
    except ValueError:
        return None  # e.g. a map judged by absolute area
