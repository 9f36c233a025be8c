"""The backtest: its JSON layout, its baselines, and that nothing after an origin leaks in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_panel
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig, TrainingConfig
from tests.conftest import random_tables
from tests.features.test_panel import CUTOFF, rewrite_after_cutoff
from training.backtest import make_folds, run_backtest

FEATURES = FeaturesConfig(period="week", start="2023-01-02", end="2023-12-25")
# Two folds of 13 weeks: the first origin is the week of 2023-07-03, whose cutoff is CUTOFF.
TRAINING = TrainingConfig(folds=2, fold_step=13, min_train_periods=20, num_boost_round=15,
                          min_data_in_leaf=5, risk_flag="above_quantile", flag_quantile=0.8,
                          hotspot_area="0.6 km2")
METRICS = {"poisson_deviance", "mae", "rmse", "count_ratio", "roc_auc", "pr_auc", "brier", "ece",
           "hit_rate@1%", "hit_rate@5%", "hit_rate@10%", "pai@1%", "pai@5%", "pai@10%",
           "pei@5%", "hit_rate@area", "pai@area", "pei@area", "crps", "coverage@80%",
           "width@80%", "tied_share"}


def backtest(areas, incidents, petitions):
    panel = build_panel(areas, incidents, petitions, FEATURES)
    return run_backtest(panel.frame, panel.catalogue, areas, FEATURES, TRAINING,
                        records=(incidents, petitions))


@pytest.fixture(scope="module")
def tables():
    return random_tables(n_areas=8, n_incidents=6000, n_petitions=800)


@pytest.fixture(scope="module")
def result(tables):
    return backtest(*tables)


def test_json_has_the_documented_layout(result):
    out = result.as_json()
    assert out["horizons"] == [1, 2, 3, 4] and out["folds"] == 2
    assert out["primary_metric"] == "poisson_deviance"
    assert set(out["model"]) == {"1", "2", "3", "4"}
    assert set(out["model"]["1"]) == METRICS
    # One year of data: no year-ago values before the first origin, so no seasonal naive.
    # Areas known by their neighbours: the kernel maps smooth over neighbour rings.
    assert set(out["baselines"]) == {"last_value", "moving_average_4", "moving_average_13",
                                     "moving_average_52", "long_run_mean", "kernel_density_0.5",
                                     "kernel_density_1", "kernel_density_2"}
    assert all(set(b["4"]) == METRICS for b in out["baselines"].values())
    assert out["skill"]["1"]["best_baseline"] in out["baselines"]
    # 0.6 km2 of areas of 0.3 km2 each: two of the eight flagged, a quarter of the map.
    assert out["model"]["1"]["pai@area"] == pytest.approx(4 * out["model"]["1"]["hit_rate@area"])


def test_each_origin_records_what_it_chose_on_its_inner_validation_slice(result):
    choices = result.as_json()["choices"]
    assert [(c["fold"], c["horizon"]) for c in choices] == [
        (f, h) for f in (1, 2) for h in (1, 2, 3, 4)]
    assert choices[0]["origin"] == "2023-07-03"
    for c in choices:
        assert c["shrinkage"] in TRAINING.shrinkage_weights and c["anchor"] in TRAINING.anchors
        assert 1 <= c["count_rounds"] <= TRAINING.num_boost_round
        assert 1 <= c["risk_rounds"] <= TRAINING.num_boost_round


def test_model_and_baselines_are_scored_on_the_same_rows(result):
    rows = result.predictions
    # Every forecaster has a forecast on every row; later horizons lose the last weeks only.
    assert rows.groupby("horizon").size().tolist() == [200, 192, 184, 176]
    assert rows[[c for c in rows.columns if c.endswith("_count")]].notna().all().all()
    assert (rows[C.PERIOD] >= pd.Timestamp("2023-07-03")).all()


def test_folds_follow_each_other_after_enough_history():
    periods = pd.date_range("2023-01-02", periods=52, freq="7D")
    folds = make_folds(periods, TRAINING)
    assert [f.start for f in folds] == [periods[26], periods[39]]
    assert folds[0].stop == folds[1].start
    with pytest.raises(ValueError, match="too few"):
        make_folds(periods[:30], TRAINING)


def test_nothing_after_the_origin_reaches_the_first_forecasts(tables):
    """Rewrite every record reported after the first origin's cutoff: the forecasts made at
    that origin must not move. A feature or label computed from the future fails this."""
    areas, incidents, petitions = tables
    before = backtest(areas, incidents, petitions).predictions
    after = backtest(areas, *rewrite_after_cutoff(incidents, petitions)).predictions
    origin = CUTOFF - pd.Timedelta(weeks=1)
    first = (before["fold"] == 1) & (before[C.PERIOD] == origin)
    assert first.sum() == 8 * 4  # every area, every horizon
    columns = ["model_count", "model_probability"]
    np.testing.assert_allclose(before.loc[first, columns], after.loc[first, columns])


def test_a_leaky_feature_is_caught(tables, monkeypatch):
    """The check above is not vacuous: a feature that peeks one week ahead breaks it."""
    import features.panel as panel_module

    original = panel_module.count_features

    def leaky(streams, config, composites=None, **kwargs):
        values, specs = original(streams, config, composites, **kwargs)
        values["all_now"] = np.roll(values["all_now"], -1, axis=1)  # next week's count
        return values, specs

    monkeypatch.setattr(panel_module, "count_features", leaky)
    with pytest.raises(AssertionError):
        test_nothing_after_the_origin_reaches_the_first_forecasts(tables)


def test_every_model_input_has_a_description(tables, result):
    from training.backtest import design
    from training.targets import input_catalogue

    areas, incidents, petitions = tables
    panel = build_panel(areas, incidents, petitions, FEATURES)
    inputs = design(panel.frame, panel.feature_names, "week", 1).columns
    catalogue = input_catalogue(panel.catalogue).set_index("name")
    assert set(inputs) <= set(catalogue.index)
    assert catalogue.loc["target_spring_festival_days", "zh"].startswith("预测期")


def test_validation_folds_end_where_the_reported_ones_begin():
    periods = pd.date_range("2023-01-02", periods=60, freq="7D")
    config = TRAINING.model_copy(update={"min_train_periods": 4})
    reported = make_folds(periods, config)
    validation = make_folds(periods, config.model_copy(update={"validation": True}))
    assert [f.start for f in reported] == [periods[34], periods[47]]
    assert [f.start for f in validation] == [periods[8], periods[21]]
    assert validation[-1].stop == reported[0].start
    assert all(f.targets_before == reported[0].start for f in validation)
    with pytest.raises(ValueError, match="too few for twice"):
        make_folds(periods, config.model_copy(update={"validation": True, "folds": 3}))


def test_validation_backtest_never_scores_a_reported_period(tables):
    areas, incidents, petitions = tables
    config = TRAINING.model_copy(update={"folds": 1, "validation": True})
    panel = build_panel(areas, incidents, petitions, FEATURES)
    rows = run_backtest(panel.frame, panel.catalogue, areas, FEATURES, config,
                        records=(incidents, petitions)).predictions
    first_reported = make_folds(pd.DatetimeIndex(panel.frame[C.PERIOD].unique()),
                                TRAINING.model_copy(update={"folds": 1}))[0].start
    target = rows[C.PERIOD] + pd.to_timedelta(rows["horizon"] * 7, unit="D")
    assert (target < first_reported).all()
    assert (rows[C.PERIOD] >= first_reported - pd.Timedelta(weeks=13)).all()
    assert rows.groupby("horizon").size().tolist() == [8 * 12, 8 * 11, 8 * 10, 8 * 9]


def test_the_oracle_is_scored_on_the_models_rows_and_gives_the_gap_closed(result):
    import copy

    scored = copy.copy(result)
    rows = result.predictions
    scored.score_oracle(np.maximum(rows["y"].to_numpy(), 1e-9), rows["flag"].to_numpy())
    out = scored.as_json()
    assert set(out["oracle"]) == {"1", "2", "3", "4"} and set(out["oracle"]["1"]) == METRICS
    assert out["oracle"]["1"]["poisson_deviance"] == pytest.approx(0, abs=1e-6)
    gap = out["gap_closed"]["1"]["poisson_deviance"]
    best = out["skill"]["1"]["baseline_value"]
    assert gap["share"] == pytest.approx((best - out["model"]["1"]["poisson_deviance"]) / best,
                                         rel=1e-4)
    assert "oracle" not in result.as_json()  # the original result is untouched
