"""Risk models: a LightGBM count model and a calibrated LightGBM risk classifier per horizon."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from training.config import TrainingConfig


@dataclass
class Calibrator:
    """Maps raw classifier scores to probabilities; fitted on periods the booster never saw."""

    method: str
    model: IsotonicRegression | LogisticRegression | None = None

    def fit(self, raw: np.ndarray, flag: np.ndarray) -> Calibrator:
        if len(np.unique(flag)) < 2:
            return self  # nothing to learn from: keep the raw scores
        if self.method == "isotonic":
            self.model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.model.fit(raw, flag)
        else:
            self.model = LogisticRegression()
            self.model.fit(_logit(raw)[:, None], flag)
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        if self.model is None:
            return raw
        if isinstance(self.model, IsotonicRegression):
            return self.model.predict(raw)
        return self.model.predict_proba(_logit(raw)[:, None])[:, 1]


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

    def expected_count(self, X: pd.DataFrame) -> np.ndarray:
        return self.count.predict(X[self.features].to_numpy(np.float32))

    def raw_risk(self, X: pd.DataFrame, threshold: np.ndarray | None = None) -> np.ndarray:
        raw = self.risk.predict(X[self.features].to_numpy(np.float32))
        if self.by_count:
            return stats.poisson.sf(np.floor(threshold), np.maximum(raw, 1e-9))
        return raw

    def risk_probability(self, X: pd.DataFrame,
                         threshold: np.ndarray | None = None) -> np.ndarray:
        return self.calibrator.transform(self.raw_risk(X, threshold))


def _params(config: TrainingConfig, objective: str) -> dict:
    return {
        "objective": objective, "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves, "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction, "bagging_fraction": 0.8,
        "bagging_freq": 1, "seed": config.seed, "deterministic": True, "verbosity": -1,
        "num_threads": 0,
    }


def _train(X: np.ndarray, y: np.ndarray, names: list[str], params: dict,
           rounds: int) -> lgb.Booster:
    data = lgb.Dataset(X, label=y, feature_name=names, free_raw_data=True)
    return lgb.train(params, data, num_boost_round=rounds)


def fit_horizon(X: pd.DataFrame, count: np.ndarray, flag: np.ndarray, periods: np.ndarray,
                config: TrainingConfig, horizon: int,
                threshold: np.ndarray | None = None) -> HorizonModel:
    """Fit one horizon's models on rows whose targets are known.

    The risk model trains on the earlier periods and the calibrator on the latest
    ``calibration_share`` of them, so calibration is fitted on data the booster did not see.

    Args:
        threshold: per row, the count above which the flag is set (count-threshold flags);
            the flag is then forecast from a count model, which copes with trends in the
            count far better than a classifier of a moving target.
    """
    names = list(X.columns)
    matrix = X.to_numpy(np.float32)
    objective = "poisson" if config.objective == "poisson" else "tweedie"
    count_model = _train(matrix, count, names, _params(config, objective), config.num_boost_round)
    unique = np.unique(periods)
    split = unique[int(len(unique) * (1 - config.calibration_share))]
    early = periods < split
    by_count = threshold is not None
    target, kind = (count, objective) if by_count else (flag, "binary")
    risk_model = _train(matrix[early], target[early], names, _params(config, kind),
                        config.num_boost_round)
    model = HorizonModel(horizon=horizon, features=names, count=count_model, risk=risk_model,
                         calibrator=Calibrator(config.calibration), by_count=by_count)
    late_threshold = None if threshold is None else threshold[~early]
    model.calibrator.fit(model.raw_risk(X[~early], late_threshold), flag[~early])
    return model
