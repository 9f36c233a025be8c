"""Boosters fitted on a real Dask cluster: logged and served like local ones, and as good."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import mean_poisson_deviance

from features import build_panel
from features.engine import Engine
from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from serving.champion import load_champion
from tests.conftest import random_tables
from training import registry
from training.backtest import run_backtest
from training.distributed import booster_fit
from training.models import fit_local
from training.pipeline import Inputs, fit_final

pytestmark = pytest.mark.distributed
EXPERIMENT = Experiment.model_validate({
    "name": "tiny", "areas": {"path": "unused.csv"}, "sources": {},
    "features": {"start": "2023-01-02", "end": "2023-12-25", "horizons": [1]},
    "training": {"folds": 1, "fold_step": 8, "min_train_periods": 20, "num_boost_round": 30,
                 "min_data_in_leaf": 20, "risk_flag": "above_quantile", "flag_quantile": 0.8}})
# Data-parallel LightGBM bins and bags per worker, so its boosters are close to, not equal to,
# local ones: held-out Poisson deviance within this share of the local model's.
TOLERANCE = 0.05


def skewed_city(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tiny clean tables whose areas differ twentyfold in incident rate: a signal to learn."""
    areas, incidents, petitions = random_tables(seed=seed, n_areas=12, n_incidents=8000)
    rate = np.geomspace(1, 20, len(areas))
    incidents[C.AREA_ID] = np.random.default_rng(seed).choice(
        areas[C.AREA_ID].to_numpy(), len(incidents), p=rate / rate.sum())
    return areas, incidents, petitions


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    areas, incidents, petitions = skewed_city()
    panel = build_panel(areas, incidents, petitions, EXPERIMENT.features)
    return Inputs(panel=panel.frame, catalogue=panel.catalogue, areas=areas,
                  incidents=incidents, petitions=petitions, counts=pd.DataFrame(), meta={})


@pytest.fixture(scope="module")
def engine(dask_cluster) -> Engine:
    return Engine(scheduler=dask_cluster.scheduler_address)


def test_a_model_fitted_on_the_cluster_is_logged_and_served_like_a_local_one(inputs, engine,
                                                                            settings):
    model = fit_final(EXPERIMENT, inputs, engine)
    for booster in (model.horizons[1].count, model.horizons[1].risk):
        assert "[num_machines: 2]" in booster.model_to_string()  # both workers trained it
    latest = inputs.panel[inputs.panel[C.PERIOD] == inputs.panel[C.PERIOD].max()]
    registry.use_store(settings, "tiny")
    with mlflow.start_run():  # what riskgrid train logs that the service reads
        mlflow.log_dict({"model": {}}, "backtest.json")
        registered = registry.log_model(model, latest.head(5), registry.model_name("tiny"))
    MlflowClient().set_registered_model_alias(registered.name, registry.CHAMPION,
                                              registered.version)
    served = load_champion(settings, "tiny")  # as the scoring service loads it
    assert (served.source, served.version) == ("registry", registered.version)
    pd.testing.assert_frame_equal(served.model.predict(latest), model.predict(latest),
                                  check_exact=True)


def held_out_deviance(inputs: Inputs, fit) -> tuple[float, float]:
    """Poisson deviance of the model on the backtest's held-out periods, and of the best
    constant forecast (the held-out mean itself)."""
    result = run_backtest(inputs.panel, inputs.catalogue, inputs.areas, EXPERIMENT.features,
                          EXPERIMENT.training, records=(inputs.incidents, inputs.petitions),
                          fit=fit)
    y = result.predictions["y"].to_numpy()
    return (result.model[1]["poisson_deviance"],
            mean_poisson_deviance(y, np.full_like(y, y.mean())))


def test_the_cluster_model_forecasts_as_well_as_the_local_one(inputs, engine):
    local, constant = held_out_deviance(inputs, fit_local)
    with booster_fit(engine) as fit:
        distributed, _ = held_out_deviance(inputs, fit)
    assert local < 0.8 * constant  # the data has a signal to learn
    assert distributed < 0.8 * constant
    assert abs(distributed - local) <= TOLERANCE * local, (distributed, local)
