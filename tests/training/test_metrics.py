"""Backtest scores: count errors, calibration, hotspot hit rate / PAI / PEI and skill."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.metrics import (
    LOWER_IS_BETTER,
    calibration_table,
    count_metrics,
    expected_calibration_error,
    hotspot_area_by_period,
    hotspot_area_metrics,
    hotspot_metrics,
    risk_metrics,
    skill,
)

KEYS = ["hit_rate@1%", "pai@1%", "hit_rate@5%", "pai@5%", "hit_rate@10%", "pai@10%", "pei@5%"]


def hotspots(y, score, size=None, period=0, ids=None) -> pd.DataFrame:
    n = len(y)
    return pd.DataFrame({
        "period": period, "area_id": ids or [f"A{i:03d}" for i in range(n)],
        "y_true": np.asarray(y, dtype=float), "score": np.asarray(score, dtype=float),
        "area_size": 1.0 if size is None else np.asarray(size, dtype=float),
    })


def panel(seed: int, n_areas: int, n_periods: int, sizes: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 1.0, n_areas)
    frames = []
    for t in range(n_periods):
        size = rng.uniform(0.2, 3.0, n_areas) if sizes else None
        frames.append(hotspots(rng.poisson(rate), rng.random(n_areas), size, period=t))
    return pd.concat(frames, ignore_index=True)


def reference(frame: pd.DataFrame, share: float) -> tuple[float, float]:
    """Mean hit rate and PAI, following the rules literally, one period and one area at a time."""
    hits, pais = [], []
    for _, g in frame.groupby("period"):
        rows = sorted(g.itertuples(), key=lambda r: (-r.score, r.area_id))
        budget = share * g["area_size"].sum()
        flagged, used = [], 0.0
        for r in rows:
            if flagged and used + r.area_size > budget * (1 + 1e-9):
                break
            flagged.append(r)
            used += r.area_size
        if g["y_true"].sum() > 0:
            hits.append(sum(r.y_true for r in flagged) / g["y_true"].sum())
            pais.append(hits[-1] / (used / g["area_size"].sum()))
    return float(np.mean(hits)), float(np.mean(pais))


# --- counts --------------------------------------------------------------------------------

def test_a_perfect_count_forecast_has_no_error():
    y = np.array([0, 0, 3, 1, 7])
    out = count_metrics(y, y)
    assert out == pytest.approx({"poisson_deviance": 0, "mae": 0, "rmse": 0, "count_ratio": 1},
                                abs=1e-8)


def test_count_errors_match_a_hand_computation():
    # Unit deviances 2(y log(y/mu) - y + mu): 2 for (0, 1) and 4 ln 2 - 2 for (2, 1).
    out = count_metrics(np.array([0, 2]), np.array([1.0, 1.0]))
    assert out == pytest.approx({"poisson_deviance": 2 * math.log(2), "mae": 1.0, "rmse": 1.0,
                                 "count_ratio": 1.0})


def test_the_count_ratio_says_how_far_the_forecasts_are_off_in_total():
    """Forecasts three times too high are off by 3 whatever their ranking; no event, no ratio."""
    y = np.array([0, 1, 0, 2, 0, 1])
    assert count_metrics(y, 3.0 * y + 0.0)["count_ratio"] == pytest.approx(3.0)
    assert count_metrics(y, np.full(6, 4 / 6))["count_ratio"] == pytest.approx(1.0)
    assert math.isnan(count_metrics(np.zeros(3), np.ones(3))["count_ratio"])


def test_a_zero_forecast_of_an_event_is_penalised_but_finite():
    out = count_metrics(np.array([0, 1]), np.array([0.0, 0.0]))
    assert math.isfinite(out["poisson_deviance"])
    assert out["poisson_deviance"] > 10


def test_count_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="same"):
        count_metrics(np.zeros(3), np.zeros(2))


# --- risk probabilities --------------------------------------------------------------------

def test_a_perfect_ranking_scores_one_and_brier_is_the_mean_squared_gap():
    out = risk_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert out == pytest.approx({"roc_auc": 1.0, "pr_auc": 1.0, "brier": 0.025, "ece": 0.15})


def test_a_constant_forecast_has_chance_auc_and_prevalence_precision():
    flag = np.array([0, 0, 0, 1])
    out = risk_metrics(flag, np.full(4, 0.25))
    assert out["roc_auc"] == pytest.approx(0.5)
    assert out["pr_auc"] == pytest.approx(0.25)
    assert out["ece"] == pytest.approx(0.0)


def test_a_reversed_ranking_has_zero_auc():
    assert risk_metrics(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9]))["roc_auc"] == 0


@pytest.mark.parametrize("value", [0, 1])
def test_a_single_class_gives_nan_aucs_without_raising_or_warning(value):
    out = risk_metrics(np.full(5, value), np.linspace(0.1, 0.9, 5))
    assert math.isnan(out["roc_auc"]) and math.isnan(out["pr_auc"])
    assert math.isfinite(out["brier"]) and math.isfinite(out["ece"])


def test_ece_matches_a_hand_computation():
    # Bin [0, .5): mean .2 vs rate .5; bin [.5, 1]: mean .85 vs rate 1; each holds half.
    ece = expected_calibration_error(np.array([0, 1, 1, 1]), np.array([0.1, 0.3, 0.8, 0.9]), 2)
    assert ece == pytest.approx(0.5 * 0.3 + 0.5 * 0.15)


def test_ece_is_small_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(0)
    p = rng.random(100_000)
    assert expected_calibration_error(rng.random(p.size) < p, p) < 0.02
    assert expected_calibration_error(rng.random(p.size) < p / 2, p) > 0.2


def test_calibration_table_has_one_row_per_bin_and_includes_one_in_the_last():
    table = calibration_table(np.array([0, 1, 1]), np.array([0.05, 0.95, 1.0]), bins=4)
    assert list(table.columns) == ["bin", "mean_predicted", "observed_rate", "count"]
    assert table["bin"].tolist() == [0, 1, 2, 3]
    assert table["count"].tolist() == [1, 0, 0, 2]
    assert table["mean_predicted"].tolist()[3] == pytest.approx(0.975)
    assert table["observed_rate"].tolist()[0] == 0
    assert table.loc[1:2, ["mean_predicted", "observed_rate"]].isna().all().all()


@pytest.mark.parametrize(("flag", "probability", "message"), [
    ([0, 2], [0.1, 0.2], "0/1"),
    ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
    ([0, 1], [0.1, np.nan], "NaN"),
])
def test_risk_metrics_reject_bad_inputs_in_one_sentence(flag, probability, message):
    with pytest.raises(ValueError, match=message):
        risk_metrics(np.array(flag), np.array(probability))


# --- hotspots ------------------------------------------------------------------------------

def test_default_keys_are_the_fixed_metric_names():
    assert list(hotspot_metrics(panel(0, 50, 3))) == KEYS


def test_the_perfect_ranking_reaches_the_maximum_pai_and_pei_one():
    y = [5, 3, 2, 0, 0, 0, 0, 0, 0, 0]
    out = hotspot_metrics(hotspots(y, y), shares=(0.1, 0.2), pei_shares=(0.1, 0.2))
    assert out == pytest.approx({"hit_rate@10%": 0.5, "pai@10%": 5.0, "hit_rate@20%": 0.8,
                                 "pai@20%": 4.0, "pei@10%": 1.0, "pei@20%": 1.0})


def test_the_worst_ranking_catches_nothing():
    y = np.array([5, 3, 2, 0, 0, 0, 0, 0, 0, 0])
    out = hotspot_metrics(hotspots(y, -y), shares=(0.1,), pei_shares=(0.1, 0.8))
    assert out["hit_rate@10%"] == 0 and out["pai@10%"] == 0 and out["pei@10%"] == 0
    assert 0 < out["pei@80%"] < 1  # 8 areas flagged, the zero ones first: 3 + 2 of 10


def test_perfect_pai_equals_the_best_possible_share_over_area_each_period():
    frame = panel(1, 200, 20)
    frame["score"] = frame["y_true"]
    out = hotspot_metrics(frame)
    expected = []
    for _, g in frame.groupby("period"):
        top = np.sort(g["y_true"].to_numpy())[::-1][:10]  # 5% of 200 areas
        if g["y_true"].sum():
            expected.append((top.sum() / g["y_true"].sum()) / 0.05)
    assert out["pai@5%"] == pytest.approx(np.mean(expected))
    assert out["pei@5%"] == pytest.approx(1.0)


def test_a_random_ranking_has_pai_near_one_on_average():
    out = hotspot_metrics(panel(2, 1000, 200))
    for share in ("1%", "5%", "10%"):
        assert out[f"pai@{share}"] == pytest.approx(1.0, abs=0.1)
    assert out["pei@5%"] < 0.5


@pytest.mark.parametrize("sizes", [False, True])
@pytest.mark.parametrize("share", [0.01, 0.05, 0.1, 0.37])
def test_hit_rate_and_pai_follow_the_greedy_area_rule(sizes, share):
    frame = panel(3, 150, 12, sizes=sizes)
    frame["score"] = np.round(frame["score"], 1)  # plenty of ties
    hit, pai = reference(frame, share)
    out = hotspot_metrics(frame, shares=(share,), pei_shares=())
    label = f"{round(share * 100, 6):g}%"
    assert out == pytest.approx({f"hit_rate@{label}": hit, f"pai@{label}": pai})


def test_one_big_area_counts_as_the_small_areas_it_could_be_split_into():
    big = hotspots([8, 2, 2, 2, 2, 2, 2], [9, 5, 4, 3, 2, 1, 0], [4, 1, 1, 1, 1, 1, 1])
    split = hotspots([2, 2, 2, 2, 2, 2, 2, 2, 2, 2], [9, 9, 9, 9, 5, 4, 3, 2, 1, 0])
    for share in ((0.4,), (0.5,)):
        assert hotspot_metrics(big, share, share) == pytest.approx(
            hotspot_metrics(split, share, share))
    assert hotspot_metrics(big, (0.5,), ())["pai@50%"] == pytest.approx((10 / 20) / 0.5)


def test_an_area_that_does_not_fit_ends_the_list_but_the_first_is_always_flagged():
    frame = hotspots([1, 6, 1, 1], [9, 8, 7, 6], [1, 5, 1, 1])
    # Budget 3 of 8: the first area fits, the big second one does not, so the list stops.
    assert hotspot_metrics(frame, (3 / 8,), ())["hit_rate@37.5%"] == pytest.approx(1 / 9)
    # 1% of 10 cells is less than one cell, yet the top cell is flagged.
    out = hotspot_metrics(hotspots([4] + [0] * 9, [1] + [0] * 9), (0.01,), (0.01,))
    assert out == pytest.approx({"hit_rate@1%": 1.0, "pai@1%": 10.0, "pei@1%": 1.0})


def test_ties_are_broken_by_area_id_whatever_the_row_order():
    frame = hotspots([0, 3, 0, 0], [1, 1, 0, 0], ids=["A", "B", "C", "D"])
    out = hotspot_metrics(frame, (0.25,), (0.25,))
    assert out == {"hit_rate@25%": 0.0, "pai@25%": 0.0, "pei@25%": 0.0}  # A before B
    shuffled = panel(4, 100, 5).sample(frac=1.0, random_state=0)
    shuffled["score"] = np.round(shuffled["score"], 1)
    assert hotspot_metrics(shuffled) == hotspot_metrics(
        shuffled.sort_values(["period", "area_id"]))


def test_periods_without_events_are_skipped_and_all_empty_gives_nan():
    y = [5, 3, 2, 0, 0, 0, 0, 0, 0, 0]
    busy = hotspots(y, y, period=1)
    quiet = hotspots([0] * 10, y, period=2)
    assert hotspot_metrics(pd.concat([busy, quiet])) == hotspot_metrics(busy)
    assert all(math.isnan(v) for v in hotspot_metrics(quiet).values())


def test_pei_compares_with_the_best_map_of_the_same_flagged_area():
    # Flagging the big area (size 2, 4 events) uses 2 of 4 km2; the best map of 2 km2
    # takes the two small areas with 3 events each.
    frame = hotspots([4, 3, 3], [9, 1, 0], [2, 1, 1])
    out = hotspot_metrics(frame, (0.5,), (0.5,))
    assert out["pei@50%"] == pytest.approx(4 / 6)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns="area_size"), "area_size"),
    (lambda f: pd.concat([f, f.head(1)]), "repeats"),
    (lambda f: f.assign(area_size=0.0), "positive"),
    (lambda f: f.assign(y_true=-1.0), "non-negative"),
])
def test_hotspot_metrics_reject_malformed_frames(change, message):
    with pytest.raises(ValueError, match=message):
        hotspot_metrics(change(hotspots([1, 0], [1, 0])))


# --- skill ---------------------------------------------------------------------------------

BASELINES = {
    "last_value": {"mae": 2.0, "roc_auc": 0.70, "pai@5%": 3.0},
    "seasonal": {"mae": 1.6, "roc_auc": 0.75, "pai@5%": float("nan")},
    "mean": {"mae": 2.5, "roc_auc": 0.50, "pai@5%": 2.0},
}
MODEL = {"mae": 1.2, "roc_auc": 0.80, "pai@5%": 4.5}


def test_skill_on_a_loss_is_the_relative_reduction_from_the_lowest_baseline():
    assert skill(MODEL, BASELINES, "mae") == pytest.approx({
        "metric": "mae", "best_baseline": "seasonal", "baseline_value": 1.6,
        "model_value": 1.2, "improvement": 0.25})


def test_skill_on_a_score_is_the_gain_over_the_highest_baseline():
    out = skill(MODEL, BASELINES, "roc_auc")
    assert out["best_baseline"] == "seasonal"
    assert out["improvement"] == pytest.approx(0.05)


def test_skill_ignores_baselines_without_a_value():
    out = skill(MODEL, BASELINES, "pai@5%")
    assert (out["best_baseline"], out["improvement"]) == ("last_value", pytest.approx(1.5))


def test_skill_rejects_an_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric"):
        skill(MODEL, BASELINES, "accuracy")


def test_losses_are_the_lower_is_better_metrics():
    assert LOWER_IS_BETTER == {"poisson_deviance", "mae", "rmse", "brier", "ece", "crps",
                               "tied_share"}


def test_pei_of_equal_cells_is_the_catch_over_the_top_cells_by_events():
    frame = panel(5, 100, 15)
    expected = []
    for _, g in frame.groupby("period"):
        caught = g.sort_values("score", ascending=False)["y_true"].head(5).sum()
        best = np.sort(g["y_true"].to_numpy())[::-1][:5].sum()
        if best:
            expected.append(caught / best)
    assert hotspot_metrics(frame)["pei@5%"] == pytest.approx(np.mean(expected))


def test_pei_never_exceeds_one_when_area_sizes_differ():
    frame = panel(6, 80, 30, sizes=True)
    out = hotspot_metrics(frame, (), (0.02, 0.05, 0.2, 0.5))
    assert all(0 <= v <= 1 for v in out.values())


def test_areas_without_a_score_are_flagged_last():
    frame = hotspots([3, 1, 0, 0], [np.nan, 0.1, 0.0, 0.0])
    assert hotspot_metrics(frame, (0.25,), ())["hit_rate@25%"] == pytest.approx(0.25)


# --- hotspots by absolute area (NIJ rules) --------------------------------------------------

def test_a_fixed_area_flags_the_highest_counts_until_it_is_covered_pooled_over_periods():
    # Budget 1.5 of 10 unit areas: the first area leaves 0.5 uncovered, so the second is
    # flagged too. Period 0 catches 5 + 3 of 10, period 1 catches 0 + 2 of 10 (best: 6 + 2).
    first = hotspots([5, 3, 2, 0, 0, 0, 0, 0, 0, 0], [9, 8, 7, 0, 0, 0, 0, 0, 0, 0])
    second = hotspots([6, 2, 0, 1, 1, 0, 0, 0, 0, 0], [0, 8, 9, 0, 0, 0, 0, 0, 0, 0], period=1)
    out = hotspot_area_metrics(pd.concat([first, second]), 1.5)
    assert out["hit_rate@area"] == pytest.approx(10 / 20)
    assert out["pai@area"] == pytest.approx((10 / 20) / (4 / 20))
    assert out["pei@area"] == pytest.approx(10 / 16)


def test_a_fixed_area_ranks_by_expected_count_not_by_density():
    # A thin edge area with a high density but a low count is not what the meeting patrols.
    frame = hotspots([0, 4], [0.5, 2.0], size=[0.1, 1.0])
    out = hotspot_area_metrics(frame, 1.0)
    assert out["hit_rate@area"] == 1.0
    assert out["pai@area"] == pytest.approx(1.0 / (1.0 / 1.1))


def test_a_fixed_area_larger_than_the_map_flags_everything_and_no_events_give_nan():
    assert hotspot_area_metrics(hotspots([1, 2], [0, 1]), 5.0)["pai@area"] == pytest.approx(1)
    assert all(math.isnan(v) for v in hotspot_area_metrics(hotspots([0, 0], [0, 1]), 1).values())
    with pytest.raises(ValueError, match="positive"):
        hotspot_area_metrics(hotspots([1, 0], [1, 0]), 0.0)


def test_a_fixed_area_map_period_by_period_pools_to_the_challenge_figures():
    """Four 1 km2 cells, 1 km2 flagged: week 0 catches both events, week 1 neither of two,
    week 2 has no event. Per week PAI 4, 0 and undefined; pooled, half the events on a
    quarter of the area: PAI 2."""
    frame = pd.DataFrame({"period": np.repeat([0, 1, 2], 4), "area_id": np.tile(list("abcd"), 3),
                          "y_true": [2, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0],
                          "score": np.tile([4.0, 3.0, 2.0, 1.0], 3), "area_size": 1.0})
    weekly = hotspot_area_by_period(frame, 1.0)
    np.testing.assert_allclose(weekly["pai@area"], [4.0, 0.0, np.nan])
    np.testing.assert_allclose(weekly["hit_rate@area"], [1.0, 0.0, np.nan])
    np.testing.assert_allclose(weekly["pei@area"], [1.0, 0.0, np.nan])
    assert hotspot_area_metrics(frame, 1.0)["pai@area"] == pytest.approx(2.0)
