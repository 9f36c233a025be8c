"""The synthetic city's oracle: its truth as reported, on the backtest's rows, and the gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.synthetic_city.incidents import REPORT_SHARE as GENERATED
from riskgrid import vocabulary as C
from riskgrid.experiment import TrainingConfig
from training.oracle import REPORT_SHARE, gap_closed, oracle_forecasts

WEEKS = pd.date_range("2024-01-01", periods=3, freq="7D")
FAMILIES = {"law_enforcement": 1.0, "livelihood": 2.0, "dispute": 3.0, "petitions": 0.5,
            "group": 0.1, "collective": 0.05}


def truth() -> pd.DataFrame:
    rows = [{C.AREA_ID: a, C.PERIOD: w, C.FAMILY: f, "expected": v * (1 + k) * (i + 1)}
            for i, a in enumerate(["G1", "G2"]) for k, w in enumerate(WEEKS)
            for f, v in FAMILIES.items()]
    return pd.DataFrame(rows)


def rows() -> pd.DataFrame:
    return pd.DataFrame({"fold": 1, "horizon": [1, 2, 1, 2], C.AREA_ID: ["G1", "G1", "G2", "G2"],
                         C.PERIOD: WEEKS[0]})


def test_the_oracle_reports_incidents_as_the_generator_does():
    assert REPORT_SHARE == GENERATED


def test_the_oracle_forecasts_each_rows_target_week_as_it_is_reported():
    count, probability = oracle_forecasts(rows(), truth(), TrainingConfig(), pd.Timedelta(weeks=1))
    share = REPORT_SHARE
    week = (share["law_enforcement"] * 1 + share["livelihood"] * 2 + share["dispute"] * 3
            + (1 - share["dispute"]) * 0.1)
    # target weeks 2 and 3 (factors 2, 3); G2 has twice G1's intensity
    np.testing.assert_allclose(count, week * np.array([2, 3, 4, 6]))
    np.testing.assert_allclose(probability, 1 - np.exp(-0.15 * np.array([2, 3, 4, 6])))


def test_a_week_beyond_the_truth_is_missing_and_count_flags_use_each_folds_threshold():
    late = rows().assign(horizon=[1, 5, 1, 1])
    config = TrainingConfig(target="dispute", risk_flag="above_quantile")
    thresholds = {1: pd.Series([1.0, 100.0], ["G1", "G2"])}
    count, probability = oracle_forecasts(late, truth(), config, pd.Timedelta(weeks=1),
                                          thresholds)
    assert np.isnan(count[1]) and np.isfinite(count[[0, 2, 3]]).all()
    assert probability[0] > 0.9 and probability[2] < 1e-6


def test_the_gap_closed_is_the_share_from_the_best_baseline_to_the_oracle():
    model = {"poisson_deviance": 1.2, "roc_auc": 0.70}
    baselines = {"a": {"poisson_deviance": 1.4, "roc_auc": 0.60},
                 "b": {"poisson_deviance": 1.5, "roc_auc": 0.65}}
    oracle = {"poisson_deviance": 1.15, "roc_auc": 0.85}
    out = gap_closed(model, baselines, oracle)
    assert out["poisson_deviance"]["share"] == pytest.approx(0.2 / 0.25)
    assert out["poisson_deviance"]["best_baseline"] == "a"
    assert out["roc_auc"]["share"] == pytest.approx(0.05 / 0.20)
    assert out["roc_auc"]["best_baseline"] == "b"
