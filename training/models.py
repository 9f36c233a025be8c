"""Risk models: a LightGBM count model and a calibrated LightGBM risk classifier per horizon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from riskgrid.experiment import TrainingConfig
from training.metrics import risk_metrics
from training.shrinkage import Choice, TrainingRows, choose, sample_weights, shrunk_labels
from training.uncertainty import exceedance, fit_dispersion, interval


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

    With a count-threshold flag (``by_count``), ``risk`` is the count model itself and its raw
    risk is P(count > threshold) under the count's law around the expected count (negative
    binomial with ``dispersion``, the law the served interval comes from); otherwise
    ``risk`` is a classifier of the flag. Either way the calibrator maps raw risk to probability.
    """

    horizon: int
    features: list[str]
    count: lgb.Booster
    risk: lgb.Booster
    calibrator: Calibrator
    by_count: bool = False
    # Of the count's negative-binomial law around the expected count (0: Poisson).
    dispersion: float = 0.0
    # The law of a count-threshold flag's raw risk, the one its calibrator was fitted on:
    # "negative_binomial" (the count's, with ``dispersion``) or "poisson" (models saved
    # before the risk followed the count's law).
    risk_law: str = "negative_binomial"

    def expected_count(self, X: pd.DataFrame) -> np.ndarray:
        return self.count.predict(X[self.features].to_numpy(np.float32))

    def interval(self, expected: np.ndarray, level: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """The count interval nearest ``level`` around expected counts (training.uncertainty)."""
        return interval(expected, self.dispersion, level)

    def raw_risk(self, X: pd.DataFrame, threshold: np.ndarray | None = None) -> np.ndarray:
        dispersion = self.dispersion if self.risk_law == "negative_binomial" else 0.0
        return raw_risk(self.risk, X[self.features].to_numpy(np.float32), self.by_count,
                        threshold, dispersion)

    def risk_probability(self, X: pd.DataFrame,
                         threshold: np.ndarray | None = None) -> np.ndarray:
        return self.calibrator.transform(self.raw_risk(X, threshold))


# Below this many rows a second thread costs more in synchronisation than it saves; on a
# machine whose cores other jobs share it costs far more (OpenMP threads wait on each other:
# 100 rounds on the synthetic city's 124,800 rows took 45 s with two threads against 5.7 s
# with one, on 2 shared cores).
_ONE_THREAD_ROWS = 1_000_000


def raw_risk(risk: lgb.Booster, matrix: np.ndarray, by_count: bool,
             threshold: np.ndarray | None, dispersion: float = 0.0) -> np.ndarray:
    """The risk booster's raw score of each row (P(count > threshold) for a count model)."""
    raw = risk.predict(matrix)
    return exceedance(raw, threshold, dispersion) if by_count else raw


def booster_params(config: TrainingConfig, objective: str, rows: int) -> dict:
    """LightGBM's parameters for one booster of ``rows`` rows."""
    leaves = config.risk_num_leaves if objective == "binary" else config.num_leaves
    return {
        "objective": objective, "learning_rate": config.learning_rate,
        "num_leaves": leaves, "min_data_in_leaf": config.min_data_in_leaf,
        "min_sum_hessian_in_leaf": config.min_sum_hessian_in_leaf,
        "lambda_l2": config.lambda_l2, "max_bin": config.max_bin,
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
    # Held-out rows (inputs, labels): a local fit stops once their loss has not improved for
    # PATIENCE rounds. None: every round is fitted.
    held_out: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, X: np.ndarray, label: np.ndarray, weight: np.ndarray, area: np.ndarray,
           names: list[str], held_out: tuple[np.ndarray, np.ndarray] | None = None) -> Sample:
        unweighted = bool((weight == 1).all())  # as before sampling existed, bit for bit
        return cls(X, label, None if unweighted else weight, area, names, held_out)


# Fits one booster: (rows, LightGBM parameters, boosting rounds) -> booster.
BoosterFit = Callable[[Sample, dict, int], lgb.Booster]


# Rounds without a better loss on the held-out rows after which a fit stops.
PATIENCE = 50


def fit_local(sample: Sample, params: dict, rounds: int) -> lgb.Booster:
    """Fit a booster in this process (with held-out rows, until their loss stops improving)."""
    data = lgb.Dataset(sample.X, label=sample.label, weight=sample.weight,
                       feature_name=sample.names, free_raw_data=True)
    if sample.held_out is None:
        return lgb.train(params, data, num_boost_round=rounds)
    held_out = data.create_valid(sample.held_out[0], label=sample.held_out[1])
    loss = "binary_logloss" if params["objective"] == "binary" else params["objective"]
    booster = lgb.train({**params, "metric": loss}, data, num_boost_round=rounds,
                        valid_sets=[held_out], callbacks=[
                            lgb.early_stopping(PATIENCE, first_metric_only=True, verbose=False)])
    booster.best_iteration = 0  # it predicts with every tree it has, as any other booster
    return booster


@dataclass(frozen=True)
class Fitted:
    """A horizon's models and what was chosen for them on the inner validation slice."""

    model: HorizonModel
    shrinkage: float
    count_rounds: int = 0
    risk_rounds: int = 0
    anchor: str = "long_run"

    def choices(self) -> dict:
        return {"shrinkage": self.shrinkage, "anchor": self.anchor,
                "count_rounds": self.count_rounds, "risk_rounds": self.risk_rounds}


# Candidate numbers of boosting rounds (those below num_boost_round, and it).
ROUND_GRID = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600)


def round_candidates(config: TrainingConfig) -> list[int]:
    if not config.choose_rounds:
        return [config.num_boost_round]
    most = config.num_boost_round
    return sorted({r for r in ROUND_GRID if r < most} | {most})


def fitted_rounds(booster: lgb.Booster, config: TrainingConfig) -> list[int]:
    """The candidate rounds a booster has trees for (all of them unless its fit stopped
    early; then also the rounds it stopped at)."""
    trained = booster.current_iteration()
    candidates = [r for r in round_candidates(config) if r <= trained]
    return candidates if trained >= round_candidates(config)[-1] else [*candidates, trained]


def truncated(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """The booster's first ``rounds`` trees, as a booster of its own."""
    if rounds >= booster.current_iteration():
        return booster
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


def staged(booster: lgb.Booster, matrix: np.ndarray, rounds: list[int]) -> dict[int, np.ndarray]:
    """Raw scores after each of ``rounds`` boosting rounds, each tree evaluated once."""
    out, total, done = {}, np.zeros(len(matrix)), 0
    for r in sorted(rounds):
        if r > done:
            total = total + booster.predict(matrix, start_iteration=done, num_iteration=r - done,
                                            raw_score=True)
        out[r], done = total, max(done, r)
    return out


def risk_rounds(risk: lgb.Booster, matrix: np.ndarray, flag: np.ndarray,
                config: TrainingConfig) -> int:
    """The classifier's rounds with the best score on held-out rows: the primary metric if
    it judges risk (roc_auc, pr_auc, brier), else the log-loss; ties go to fewer rounds."""
    candidates = fitted_rounds(risk, config)
    if len(candidates) == 1 or len(np.unique(flag)) < 2:
        return candidates[-1]
    return best_risk_rounds(staged(risk, matrix, candidates), flag, config)


def best_risk_rounds(raws: dict[int, np.ndarray], flag: np.ndarray,
                     config: TrainingConfig) -> int:
    """:func:`risk_rounds` from the classifier's raw scores of the held-out rows after each
    candidate number of rounds (wherever they were computed)."""
    candidates = sorted(raws)
    if len(candidates) == 1 or len(np.unique(flag)) < 2:
        return candidates[-1]
    metric = config.primary_metric
    higher = metric in ("roc_auc", "pr_auc")
    best, best_score = candidates[-1], np.inf
    for rounds in candidates:
        raw = raws[rounds]
        p = np.clip(1 / (1 + np.exp(-raw)), 1e-9, 1 - 1e-9)
        if metric in ("roc_auc", "pr_auc", "brier"):
            score = risk_metrics(flag, p)[metric]
        else:
            score = -np.mean(flag * np.log(p) + (1 - flag) * np.log(1 - p))
        score = -score if higher else score
        if score < best_score:
            best, best_score = rounds, score
    return best


def fit_horizon(X: pd.DataFrame, count: np.ndarray, flag: np.ndarray, rows: TrainingRows,
                config: TrainingConfig, horizon: int, fit: BoosterFit = fit_local) -> Fitted:
    """Fit one horizon's models on rows whose targets are known.

    The latest ``calibration_share`` of the periods is the inner validation slice. A
    classifier of the flag trains on the earlier periods; its rounds are chosen and its
    calibrator fitted on that slice, which it did not see. A count booster fitted on the
    earlier periods chooses, on the slice's every area and period (a hotspot map needs them
    all), its rounds and the shrinkage weight and anchor by the primary metric; the count
    model then trains on every period with those. A count-threshold flag's risk is that count
    model's P(count > threshold), calibrated on the slice's forecasts of the early booster
    shrunk as the final one is. Boosters see the rows :func:`sample_weights` keeps, with their
    weights.
    The count's dispersion (its negative-binomial law) is learned on the same slice, around
    those shrunk forecasts.
    When their rounds are chosen by their own loss (the classifier's always; the count
    booster's with ``rounds_by = "loss"``), the early boosters stop once their loss on the
    slice has not improved for :data:`PATIENCE` rounds (a cluster's fit runs every round and
    is cut where a local one would stop), and the candidates are the rounds they have trees
    for. At weight 0 the count model learns the anchor alone, with every round.

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
    weight = sample_weights(count, flag, config, area=rows.area_id)
    used = (weight > 0) | late  # only these rows become a matrix
    matrix = X[used].to_numpy(np.float32)
    count, flag, weight, late = (values[used] for values in (count, flag, weight, late))
    rows = rows.take(used)
    kept = weight > 0
    early = kept & ~late
    by_count = rows.threshold is not None
    target, kind = (count, objective) if by_count else (flag, "binary")

    held_out = matrix[late]

    def booster(keep: np.ndarray, label: np.ndarray, loss: str, rounds: int,
                stop_on: np.ndarray | None = None) -> lgb.Booster:
        sample = Sample.of(matrix[keep], label, weight[keep], rows.area_id[keep], names,
                           None if stop_on is None else (held_out, stop_on))
        return fit(sample, booster_params(config, loss, len(label)), rounds)

    most = config.num_boost_round
    # The early boosters' rounds are chosen on the slice by their loss first, so they can
    # stop there once it no longer improves: the rounds beyond could not be chosen.
    stops = config.choose_rounds and (by_count and config.rounds_by == "loss" or not by_count)
    risk = booster(early, target[early], kind, most, target[late] if stops else None)
    choosing = len(round_candidates(config)) > 1 or len(set(config.shrinkage_weights)) > 1
    # Always fitted: the count's dispersion is learned around its forecasts.
    early_count = risk if by_count else booster(
        early, count[early], objective, most,
        count[late] if config.choose_rounds and config.rounds_by == "loss" else None)
    # The count objectives (poisson, tweedie) have a log link.
    forecasts = {r: np.exp(raw) for r, raw in
                 staged(early_count, held_out, fitted_rounds(early_count, config)).items()}
    if choosing:
        choice = choose(forecasts, count[late], rows.take(late), config)
    else:
        choice = Choice(most, config.shrinkage_weights[0], float("nan"))
    # At weight 0 the booster learns the anchor itself and gets every round to do so.
    rounds = most if choice.weight == 0 else choice.rounds
    label = shrunk_labels(count[kept], rows.anchor(choice.anchor)[kept], choice.weight)
    count_model = booster(kept, label, objective, rounds)
    # The slice's forecasts of the final count model, out of sample: the early booster's,
    # shrunk as the final one is.
    late_forecast = shrunk_labels(forecasts[choice.rounds], rows.anchor(choice.anchor)[late],
                                  choice.weight)
    # The count's dispersion: how the late counts spread around them; every row of the
    # slice, unweighted.
    dispersion = fit_dispersion(count[late], late_forecast, None)
    if by_count:
        # The flag's risk is the served count forecast's P(count > threshold), so the risk
        # ranks the areas as the expected counts do; calibrated on the slice's forecasts.
        risk = count_model
        raw = exceedance(late_forecast, rows.threshold[late], dispersion)
    else:
        risk = truncated(risk, risk_rounds(risk, held_out, flag[late], config))
        raw = raw_risk(risk, held_out, False, None)
    model = HorizonModel(horizon=horizon, features=names, count=count_model, risk=risk,
                         calibrator=Calibrator(config.calibration), by_count=by_count,
                         dispersion=dispersion)
    # Every row of the slice, unweighted: the calibrator sees the periods as they were.
    model.calibrator.fit(raw, flag[late])
    return Fitted(model, choice.weight, rounds, risk.current_iteration(), choice.anchor)
