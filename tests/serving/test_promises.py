"""What each warning level promises (serving/promises.py): thresholds the backtest kept."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from serving.promises import backtest_outcomes, kept_promises, promised_config, settle_levels
from serving.warnings import WarningsConfig, levels


def past(rows: list[tuple[float, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(probability, forecasts, came true) groups as flat arrays."""
    p = np.concatenate([np.full(n, prob) for prob, n, _ in rows])
    flag = np.concatenate([np.r_[np.ones(k), np.zeros(n - k)] for _, n, k in rows])
    return p, flag


# 10 forecasts at 90% of which 6 came true, 10 at 50% (3), 20 at 20% (2), 100 at 5% (1).
BACKTEST = past([(0.9, 10, 6), (0.5, 10, 3), (0.2, 20, 2), (0.05, 100, 1)])
CONFIG = WarningsConfig(promise={"red": 0.5, "orange": 0.3, "yellow": 0.1},
                        promise_min_forecasts=5)


def test_each_level_gets_the_lowest_threshold_whose_band_kept_its_promise():
    kept = {row["level"]: row for row in kept_promises(*BACKTEST, CONFIG)}
    # red: from 90% 6 of 10 came true; from 50% only 9 of 20 (45%), short of one in two.
    assert (kept["red"]["threshold"], kept["red"]["forecasts"], kept["red"]["came_true"]) == (
        0.9, 10, 6)
    # orange, below red: from 50% 3 of 10 (30%) keeps "3 in 10"; from 20% 5 of 30 does not.
    assert (kept["orange"]["threshold"], kept["orange"]["came_true"]) == (0.5, 3)
    assert (kept["yellow"]["threshold"], kept["yellow"]["precision"]) == (0.2, 0.1)
    # blue has no promise: its fixed threshold (0.2 by default) meets yellow's, an empty band
    assert kept["blue"]["source"] == "fixed" and kept["blue"]["forecasts"] == 0
    assert all(kept[lv]["source"] == "backtest" for lv in ("red", "orange", "yellow"))


def test_the_promised_thresholds_are_what_levels_use():
    config = promised_config(CONFIG, kept_promises(*BACKTEST, CONFIG))
    scores = pd.DataFrame({"area_id": list("abcde"), "horizon": 1,
                           "risk_probability": [0.95, 0.6, 0.3, 0.21, 0.1]})
    got = levels(scores, config.model_copy(update={"alert_budget": 1.0})).tolist()
    assert got == ["red", "orange", "yellow", "yellow", "none"]


def test_a_promise_no_threshold_keeps_leaves_its_level_empty():
    config = WarningsConfig(promise={"red": 0.95}, promise_min_forecasts=5, alert_budget=1.0)
    kept = kept_promises(*BACKTEST, config)
    assert kept[0]["source"] == "not_kept" and math.isinf(kept[0]["threshold"])
    scores = pd.DataFrame({"area_id": ["a"], "horizon": 1, "risk_probability": [1.0]})
    assert levels(scores, promised_config(config, kept)).tolist() == ["orange"]


def test_too_few_forecasts_never_keep_a_promise():
    config = WarningsConfig(promise={"red": 0.5}, promise_min_forecasts=11)
    red = kept_promises(*BACKTEST, config)[0]
    # 10 at 90% are too few; from 50% the 20 forecasts came true 45% of the time.
    assert red["source"] == "not_kept"


def test_backtest_forecasts_meet_the_outcomes_of_their_target_period():
    predictions = pd.DataFrame({
        "period": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
        "area_id": ["A", "B", "A"], "horizon": [1, 1, 2],
        "model_probability": [0.7, 0.2, 0.4]})
    outcomes = pd.DataFrame({"area_id": ["A", "B", "A"],
                             "period": pd.to_datetime(["2024-01-08", "2024-01-08",
                                                       "2024-01-15"]),
                             "count": [2, 0, 1], "flag": [1.0, 0.0, 1.0]})
    p, flag = backtest_outcomes(predictions, outcomes, [1], "week")
    assert sorted(zip(p, flag)) == [(0.2, 0.0), (0.7, 1.0)]  # horizon 2 is not warned on
    fixed, table = settle_levels(WarningsConfig(), None, outcomes, "week")
    assert fixed == WarningsConfig() and {r["source"] for r in table} == {"fixed"}
