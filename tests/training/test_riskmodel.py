"""A saved risk model: its predictive law (the dispersion) comes back with it."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from training.models import Calibrator, HorizonModel
from training.riskmodel import RiskModel
from training.uncertainty import interval


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
