"""A saved risk model: its predictive law (the dispersion) comes back with it, and the
law its risk calibrator was fitted on."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats

from training.models import Calibrator, HorizonModel
from training.riskmodel import RiskModel
from training.uncertainty import exceedance, interval


def booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.random((200, 2))
    data = lgb.Dataset(X, label=rng.poisson(1 + 2 * X[:, 0]), feature_name=["a", "b"])
    return lgb.train({"objective": "poisson", "verbosity": -1, "num_threads": 1}, data, 5)


def test_the_dispersion_and_its_intervals_survive_saving(tmp_path):
    count = booster()
    model = RiskModel(experiment="x", period="week", target="all", risk_flag="above_quantile",
                      features=["a", "b"], horizons={1: HorizonModel(
                          horizon=1, features=["a", "b"], count=count, risk=count,
                          calibrator=Calibrator("isotonic"), by_count=True, dispersion=0.35)})
    loaded = RiskModel.load(model.save(tmp_path / "model"))
    assert loaded.horizons[1].dispersion == 0.35
    mu = np.array([0.2, 3.0, 12.0])
    np.testing.assert_array_equal(loaded.horizons[1].interval(mu), interval(mu, 0.35))
    assert (interval(mu, 0.35)[1] >= interval(mu, 0.0)[1]).all()  # wider than Poisson


def test_a_model_keeps_the_law_its_risk_was_calibrated_on(tmp_path):
    """A saved model's raw risk comes back as it was trained: the negative binomial's for a
    model of this code, Poisson's for one saved before the law was recorded (its calibrator
    was fitted on those), so an upgrade does not move a champion's probabilities."""
    count = booster()
    model = RiskModel(experiment="x", period="week", target="all", risk_flag="above_quantile",
                      features=["a", "b"], horizons={1: HorizonModel(
                          horizon=1, features=["a", "b"], count=count, risk=count,
                          calibrator=Calibrator("isotonic"), by_count=True, dispersion=0.35)})
    folder = model.save(tmp_path / "model")
    X = pd.DataFrame({"a": [0.1, 0.5, 0.9], "b": [0.2, 0.2, 0.2]})
    threshold = np.array([1.0, 2.0, 3.0])
    expected = count.predict(X.to_numpy(np.float32))
    np.testing.assert_allclose(RiskModel.load(folder).horizons[1].raw_risk(X, threshold),
                               exceedance(expected, threshold, 0.35))
    meta = json.loads((folder / "model.json").read_text())
    del meta["risk_law"]
    (folder / "model.json").write_text(json.dumps(meta))
    np.testing.assert_allclose(RiskModel.load(folder).horizons[1].raw_risk(X, threshold),
                               stats.poisson.sf(threshold, expected))
