"""Risk models: a LightGBM count model and a calibrated LightGBM risk classifier per horizon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from riskgrid.experiment import TrainingConfig
from training.shrinkage import TrainingRows, choose_weight, sample_weights, shrunk_labels
from training.uncertainty import fit_dispersion, interval


@dataclass
class Calibrator:
    """Maps raw classifier scores to probabilities; fitted on periods the booster never saw.

    ``isotonic``: the isotonic fit, interpolated linearly between the centres of its blocks
    (each block's mean raw score at its observed rate, from (0, 0) to (1, 1)), so the map is
    strictly increasing: it keeps the booster's ranking instead of tying every score of a
    block on one plateau. ``sigmoid``: Platt scaling of the raw score's logit.
    """

    method: str
    model: IsotonicRegression | LogisticRegression | None = None
    knots: tuple[np.ndarray, np.ndarray] | None = None  # isotonic: raw score -> probability

    def fit(self, raw: np.ndarray, flag: np.ndarray,
            weight: np.ndarray | None = None) -> Calibrator:
        if len(np.unique(flag)) < 2:
            return self  # nothing to learn from: keep the raw scores
        if self.method == "isotonic":
            self.knots = _isotonic_knots(raw, flag, weight)
        else:
            self.model = LogisticRegression()
            self.model.fit(_logit(raw)[:, None], flag, sample_weight=weight)
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        knots = getattr(self, "knots", None)  # calibrators pickled before knots existed
        if knots is not None:
            return np.interp(raw, *knots)
        if self.model is None:
            return raw
        if isinstance(self.model, IsotonicRegression):
            return self.model.predict(raw)
        return self.model.predict_proba(_logit(raw)[:, None])[:, 1]


def _isotonic_knots(raw: np.ndarray, flag: np.ndarray,
                    weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each isotonic block's weighted mean raw score and its level, with (0, 0) and (1, 1)
    (the blocks at level 0 or 1 left out)."""
    w = np.ones(len(raw)) if weight is None else np.asarray(weight, float)
    level = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        raw, flag, sample_weight=w).predict(raw)
    levels, block = np.unique(level, return_inverse=True)
    centre = np.bincount(block, weights=w * raw) / np.bincount(block, weights=w)
    # A block at rate 0 (or 1) would be a plateau claiming certainty: the anchor replaces it.
    inner = (levels > 0) & (levels < 1)
    centre, levels = centre[inner], levels[inner]
    first = int(not centre.size or centre[0] > 0)
    last = int(not centre.size or centre[-1] < 1)
    x = np.r_[[0.0] * first, centre, [1.0] * last]
    y = np.r_[[0.0] * first, levels, [1.0] * last]
    return x, y


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class HorizonModel:
    """The two boosters and the calibrator of one horizon, and the features they read.

    With a count-threshold flag (``by_count``), ``risk`` is a count model fitted on the earlier
    periods and its raw risk is P(count > threshold) under a Poisson law; otherwise ``risk`` is
    a classifier of the flag. Either way the calibrator maps raw risk to probability.
    """

    horizon: int
    features: list[str]
    count: lgb.Booster
    risk: lgb.Booster
    calibrator: Calibrator
    by_count: bool = False
    # Of the count's negative-binomial law around the expected count (0: Poisson).
    dispersion: float = 0.0

    def expected_count(self, X: pd.DataFrame) -> np.ndarray:
        return self.count.predict(X[self.features].to_numpy(np.float32))

    def interval(self, expected: np.ndarray, level: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """The count interval nearest ``level`` around expected counts (training.uncertainty)."""
        return interval(expected, self.dispersion, level)

    def raw_risk(self, X: pd.DataFrame, threshold: np.ndarray | None = None) -> np.ndarray:
        return raw_risk(self.risk, X[self.features].to_numpy(np.float32), self.by_count,
                         threshold)

    def risk_probability(self, X: pd.DataFrame,
                         threshold: np.ndarray | None = None) -> np.ndarray:
        return self.calibrator.transform(self.raw_risk(X, threshold))


# Below this many rows a second thread costs more in synchronisation than it saves.
_ONE_THREAD_ROWS = 100_000


def raw_risk(risk: lgb.Booster, matrix: np.ndarray, by_count: bool,
             threshold: np.ndarray | None) -> np.ndarray:
    """The risk booster's raw score of each row (P(count > threshold) for a count model)."""
    raw = risk.predict(matrix)
    if by_count:
        return stats.poisson.sf(np.floor(threshold), np.maximum(raw, 1e-9))
    return raw


def booster_params(config: TrainingConfig, objective: str, rows: int) -> dict:
    """LightGBM's parameters for one booster of ``rows`` rows."""
    return {
        "objective": objective, "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves, "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction, "bagging_fraction": 0.8,
        "bagging_freq": 1, "seed": config.seed, "deterministic": True, "verbosity": -1,
        "num_threads": 1 if rows < _ONE_THREAD_ROWS else 0,
    }


@dataclass(frozen=True)
class Sample:
    """The rows one booster learns from, in panel order (each area's rows together)."""

    X: np.ndarray
    label: np.ndarray
    weight: np.ndarray | None  # None: every row weighs 1
    area: np.ndarray
    names: list[str]

    @classmethod
    def of(cls, X: np.ndarray, label: np.ndarray, weight: np.ndarray, area: np.ndarray,
           names: list[str]) -> Sample:
        unweighted = bool((weight == 1).all())  # as before sampling existed, bit for bit
        return cls(X, label, None if unweighted else weight, area, names)


# Fits one booster: (rows, LightGBM parameters, boosting rounds) -> booster.
BoosterFit = Callable[[Sample, dict, int], lgb.Booster]


def fit_local(sample: Sample, params: dict, rounds: int) -> lgb.Booster:
    """Fit a booster in this process."""
    data = lgb.Dataset(sample.X, label=sample.label, weight=sample.weight,
                       feature_name=sample.names, free_raw_data=True)
    return lgb.train(params, data, num_boost_round=rounds)


@dataclass(frozen=True)
class Fitted:
    """A horizon's models and the shrinkage weight chosen for its count model."""

    model: HorizonModel
    shrinkage: float


def fit_horizon(X: pd.DataFrame, count: np.ndarray, flag: np.ndarray, rows: TrainingRows,
                config: TrainingConfig, horizon: int, fit: BoosterFit = fit_local) -> Fitted:
    """Fit one horizon's models on rows whose targets are known.

    The risk model trains on the earlier periods and the calibrator on the latest
    ``calibration_share`` of them, so calibration is fitted on data the booster did not see.
    The shrinkage weight of the count model is chosen on that same slice, from a count
    booster fitted on the earlier periods only, against every area of each late period
    (a hotspot map needs them all). Everything else sees the rows :func:`sample_weights`
    keeps, with their weights. The count's dispersion (its negative-binomial law) is learned
    on the same slice, around the forecasts of a count model fitted on the earlier periods.

    Args:
        rows: each row's period, area and long-run rate; with a count-threshold flag, also
            its threshold: the flag is then forecast from a count model, which copes with
            trends in the count far better than a classifier of a moving target.
        fit: fits each booster: :func:`fit_local`, or on a Dask cluster
            (:func:`training.distributed.booster_fit`).
    """
    names = list(X.columns)
    objective = "poisson" if config.objective == "poisson" else "tweedie"
    unique = np.unique(rows.period)
    late = rows.period >= unique[int(len(unique) * (1 - config.calibration_share))]
    weight = sample_weights(count, flag, config)
    choose = len(set(config.shrinkage_weights)) > 1
    used = (weight > 0) | (late & choose)  # only these rows become a matrix
    matrix = X[used].to_numpy(np.float32)
    count, flag, weight, late = (values[used] for values in (count, flag, weight, late))
    rows = rows.take(used)
    kept = weight > 0
    early = kept & ~late
    by_count = rows.threshold is not None
    target, kind = (count, objective) if by_count else (flag, "binary")

    def booster(keep: np.ndarray, label: np.ndarray, loss: str) -> lgb.Booster:
        sample = Sample.of(matrix[keep], label, weight[keep], rows.area_id[keep], names)
        return fit(sample, booster_params(config, loss, len(label)), config.num_boost_round)

    risk = booster(early, target[early], kind)
    shrink = config.shrinkage_weights[0]
    early_count = risk if by_count else booster(early, count[early], objective)
    if choose:
        shrink = choose_weight(early_count.predict(matrix[late]), count[late], rows.take(late),
                               config)
    label = shrunk_labels(count[kept], rows.long_run[kept], shrink)
    count_model = booster(kept, label, objective)
    calibrate = late & kept
    # The count's dispersion: how the late counts spread around the forecasts of a count
    # model fitted on the earlier periods only, shrunk as the final one is.
    dispersion = fit_dispersion(
        count[calibrate], shrunk_labels(early_count.predict(matrix[calibrate]),
                                        rows.long_run[calibrate], shrink),
        None if config.zero_share >= 1 else weight[calibrate])
    model = HorizonModel(horizon=horizon, features=names, count=count_model, risk=risk,
                         calibrator=Calibrator(config.calibration), by_count=by_count,
                         dispersion=dispersion)
    threshold = None if rows.threshold is None else rows.threshold[calibrate]
    model.calibrator.fit(raw_risk(risk, matrix[calibrate], by_count, threshold),
                         flag[calibrate], None if config.zero_share >= 1 else weight[calibrate])
    return Fitted(model, shrink)
