"""Early-warning rules: levels and the alert budget, kinds, and each rule's boundaries."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.io import read_table
from serving.warnings import (
    KINDS,
    LEVELS,
    SUGGESTED_RESPONSES,
    WARNING_KEYS,
    WarningsConfig,
    feature_kind,
    issue_warnings,
    kind_of,
    levels,
)

AS_OF = pd.Timestamp("2024-03-04")  # a Monday
WEEK = pd.Timedelta(weeks=1)
CATALOGUE = pd.DataFrame(
    [("collective_now", "counts", "collective petitions this week", "本周集体访数"),
     ("group_now", "counts", "group incidents this week", "本周群体性事件数"),
     ("all_now", "counts", "incidents this week", "本周事件数"),
     ("all_mean_all", "counts", "incidents, long-run average per week", "事件长期平均(每周)"),
     ("all_last_year", "counts", "incidents in the same weeks last year", "去年同期事件平均数"),
     ("all_trend", "trend", "incidents: last 4 weeks against the last 13", "事件趋势"),
     ("group_trend", "trend", "group incidents: trend", "群体性事件趋势"),
     ("overdue_open_cases", "handling", "incidents open for more than 15 days", "超期未办结事件数"),
     ("petition_backlog", "petitions", "petitions open for more than 90 days", "信访积案数"),
     ("periods_since_collective", "petitions", "weeks since the last collective petition",
      "距上次集体访的周数"),
     ("repeat_same_topic_max", "petitions", "most repeat petitions on one topic",
      "同一事项重复访最多件数"),
     ("neighbours_dispute_sum_4", "spread", "disputes in neighbouring grids", "相邻网格矛盾纠纷数"),
     ("street_collective_sum_13", "hierarchy", "collective petitions per grid in the street",
      "所在街道每网格集体访数"),
     ("street_all_sum_13", "hierarchy", "incidents per grid in the street", "所在街道每网格事件数"),
     ("population", "static", "registered population", "户籍人口"),
     ("holiday_days", "calendar", "statutory holiday days in the period", "本期法定节假日天数")],
    columns=["name", "family", "en", "zh"])
FEATURES = list(CATALOGUE["name"])
AREAS = pd.DataFrame({"area_id": ["G1", "G2", "G3", "G4"], "street_id": ["S1", "S1", "S2", "S2"],
                      "district_id": ["D1"] * 4})


def make_scores(probs: dict[str, float], horizon: int = 1, counts: dict | None = None
                ) -> pd.DataFrame:
    counts = counts or {}
    return pd.DataFrame({"area_id": list(probs), "period": AS_OF, "horizon": horizon,
                         "expected_count": [counts.get(a, 1.0) for a in probs],
                         "risk_probability": list(probs.values())})


def make_contributions(scores: pd.DataFrame, push: dict[str, float] | None = None
                       ) -> pd.DataFrame:
    """Every feature slightly negative, except those in ``push``."""
    frame = pd.DataFrame(-0.01, index=scores.index, columns=FEATURES)
    for feature, value in (push or {}).items():
        frame[feature] = value
    return frame


def make_panel(history: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """Panel rows from per-area column histories, oldest first, the last one at AS_OF."""
    rows = []
    for area, columns in history.items():
        n = len(next(iter(columns.values())))
        for i in range(n):
            row = {"area_id": area, "period": AS_OF - (n - 1 - i) * WEEK}
            row |= {c: float(v[i]) for c, v in columns.items()}
            rows.append(row)
    return pd.DataFrame(rows)


def quiet_panel(areas=("G1", "G2", "G3", "G4"), periods: int = 4) -> dict:
    return {a: {"collective_now": [0] * periods, "periods_since_collective": [104] * periods,
                "repeat_same_topic_max": [0] * periods, "overdue_open_cases": [0] * periods,
                "all_now": [1] * periods, "all_mean_all": [1] * periods} for a in areas}


def run(scores=None, contributions=None, panel=None, surges=None, config=None,
        model_version="m1", **kwargs):
    scores = make_scores({"G1": 0.0}) if scores is None else scores
    contributions = make_contributions(scores) if contributions is None else contributions
    panel = make_panel(quiet_panel()) if panel is None else panel
    return issue_warnings(scores, contributions, panel, CATALOGUE, AREAS, surges,
                          config or WarningsConfig(), AS_OF, model_version, **kwargs)


# --- config ------------------------------------------------------------------------------------


def test_config_defaults_describe_every_field_and_forbid_unknown_keys():
    config = WarningsConfig()
    assert (config.red, config.orange, config.yellow, config.blue) == (0.8, 0.6, 0.4, 0.2)
    assert config.alert_budget == 0.05 and config.horizons == [1]
    assert all(field.description for field in WarningsConfig.model_fields.values())
    with pytest.raises(ValidationError, match="alert_bugdet"):
        WarningsConfig(alert_bugdet=0.1)
    with pytest.raises(ValidationError):
        config.red = 0.9  # frozen


def test_config_reads_a_toml_section_and_rejects_thresholds_that_do_not_decrease():
    raw = tomllib.loads("[warnings]\nred = 0.9\norange = 0.7\nhorizons = [2, 1, 2]\n")
    config = WarningsConfig.model_validate(raw["warnings"])
    assert config.red == 0.9 and config.horizons == [1, 2]
    with pytest.raises(ValidationError, match="decrease from red to blue"):
        WarningsConfig(orange=0.4)  # equal to yellow
    with pytest.raises(ValidationError, match="horizons"):
        WarningsConfig(horizons=[0])
    with pytest.raises(ValidationError, match="quiet_periods"):
        WarningsConfig(quiet_periods=105)  # periods_since_collective is capped at 104


# --- levels and the alert budget ---------------------------------------------------------------


def test_levels_start_exactly_at_each_threshold():
    probs = {"a": 0.8, "b": 0.7999, "c": 0.6, "d": 0.4, "e": 0.3999, "f": 0.2, "g": 0.1999,
             "h": float("nan")}
    got = levels(make_scores(probs), WarningsConfig(alert_budget=1.0))
    assert list(got) == ["red", "orange", "orange", "yellow", "blue", "blue", "none", "none"]


def test_alert_budget_drops_the_lowest_ranked_red_and_orange_to_yellow():
    probs = {f"G{i:02d}": 0.1 for i in range(20)} | {"G00": 0.95, "G01": 0.9, "G02": 0.85,
                                                     "G03": 0.65}
    got = levels(make_scores(probs), WarningsConfig(alert_budget=0.1))  # 2 of 20 areas
    assert got.iloc[:4].tolist() == ["red", "red", "yellow", "yellow"]
    assert (got == "none").sum() == 16


def test_alert_budget_breaks_ties_by_expected_count_then_area_id():
    probs = {f"G{i:02d}": 0.1 for i in range(20)} | {"G05": 0.7, "G06": 0.7, "G07": 0.7}
    scores = make_scores(probs, counts={"G07": 3.0})
    got = levels(scores, WarningsConfig(alert_budget=0.1)).set_axis(scores["area_id"])
    assert got[["G05", "G06", "G07"]].tolist() == ["orange", "yellow", "orange"]
    shuffled = scores.sample(frac=1, random_state=1)
    again = levels(shuffled, WarningsConfig(alert_budget=0.1)).set_axis(shuffled["area_id"])
    assert again.sort_index().equals(got.sort_index())


def test_alert_budget_applies_per_horizon_and_never_rounds_up():
    probs = {f"G{i:03d}": 0.7 for i in range(100)}
    both = pd.concat([make_scores(probs, 1), make_scores(probs, 2)], ignore_index=True)
    got = levels(both, WarningsConfig(alert_budget=0.29))
    assert (got[both["horizon"] == 1] == "orange").sum() == 29
    assert (got[both["horizon"] == 2] == "orange").sum() == 29
    tiny = levels(make_scores({"G1": 0.9, "G2": 0.1}), WarningsConfig())  # 5% of 2 areas: 0
    assert tiny.tolist() == ["yellow", "none"]


# --- kinds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "family", "kind"), [
    ("collective_now", "counts", "sudden_group"),
    ("group_trend", "trend", "sudden_group"),
    ("repeat_same_topic_max", "petitions", "sudden_group"),
    ("street_collective_sum_13", "hierarchy", "sudden_group"),
    ("neighbours_dispute_sum_4", "spread", "spreading"),
    ("overdue_open_cases", "handling", "sinking_backlog"),
    ("petition_backlog", "petitions", "sinking_backlog"),
    ("holiday_days", "calendar", "cyclical_sector"),
    ("target_spring_festival_days", "target_calendar", "cyclical_sector"),
    ("collective_last_year", "counts", "cyclical_sector"),
    ("all_trend", "trend", "cyclical_sector"),
    ("all_now", "counts", None),
    ("street_all_sum_13", "hierarchy", None),
    ("population", "static", None),
])
def test_feature_kinds(name, family, kind):
    assert feature_kind(name, family) == kind


def test_kind_is_the_kind_whose_features_push_the_risk_up_most():
    frame = pd.DataFrame(0.0, index=range(5), columns=FEATURES)
    frame.loc[0, ["collective_now", "group_now"]] = 0.2  # 0.4 against one 0.3
    frame.loc[0, "neighbours_dispute_sum_4"] = 0.3
    frame.loc[1, ["overdue_open_cases", "petition_backlog"]] = [0.1, 0.15]
    frame.loc[1, "holiday_days"] = -2.0  # pushing down never counts
    frame.loc[2, ["all_last_year", "all_trend", "holiday_days"]] = 0.1
    frame.loc[3, ["all_now", "population"]] = 1.0  # no kind: fallback
    frame.loc[4, ["neighbours_dispute_sum_4", "overdue_open_cases"]] = 0.25  # tie
    got = kind_of(frame, CATALOGUE)
    assert got.tolist() == ["sudden_group", "sinking_backlog", "cyclical_sector",
                            "sudden_group", "sinking_backlog"]
    assert kind_of(frame.loc[2], CATALOGUE) == "cyclical_sector"


# --- probability warnings ----------------------------------------------------------------------


def test_probability_warnings_carry_level_kind_period_evidence_and_response():
    scores = pd.concat([make_scores({"G1": 0.85, "G2": 0.5, "G3": 0.1, "G4": 0.3}, 1),
                        make_scores({"G1": 0.9, "G2": 0.9, "G3": 0.9, "G4": 0.9}, 2)],
                       ignore_index=True)
    contributions = make_contributions(scores, {"neighbours_dispute_sum_4": 0.5,
                                                "collective_now": 0.2, "all_now": 0.3,
                                                "group_now": 0.1})
    found = run(scores, contributions, config=WarningsConfig(alert_budget=0.25))
    assert [(w["area_id"], w["level"]) for w in found] == [("G1", "red"), ("G2", "yellow"),
                                                           ("G4", "blue")]
    red = found[0]
    assert red["kind"] == "spreading" and red["rule"] == "probability"
    assert (red["horizon"], red["period"], red["as_of"]) == (1, "2024-03-11", "2024-03-04")
    assert red["score"] == 0.85
    drivers = red["evidence"]["drivers"]
    assert [d["feature"] for d in drivers] == ["neighbours_dispute_sum_4", "all_now",
                                               "collective_now"]
    assert drivers[1] == {"feature": "all_now", "label_en": "incidents this week",
                          "label_zh": "本周事件数", "value": 1.0, "contribution": 0.3}
    assert red["evidence"]["trigger"]["held_back_by_alert_budget"] is False
    assert (red["response_en"], red["response_zh"]) == SUGGESTED_RESPONSES[("spreading", "red")]


def test_probability_warning_budget_hold_back_is_recorded_and_months_step_by_month():
    scores = make_scores({"G1": 0.95, "G2": 0.9, "G3": 0.1, "G4": 0.1}, horizon=2)
    found = run(scores, config=WarningsConfig(alert_budget=0.25, horizons=[2]), period="month")
    assert [w["level"] for w in found] == ["red", "yellow"]
    assert found[1]["evidence"]["trigger"]["level_by_threshold"] == "red"
    assert found[1]["evidence"]["trigger"]["held_back_by_alert_budget"] is True
    assert found[0]["period"] == "2024-05-04"


def test_no_warning_below_blue():
    scores = make_scores({"G1": 0.1999, "G2": 0.0, "G3": 0.05, "G4": 0.19})
    assert run(scores) == []


def test_warning_ids_are_deterministic_and_documented():
    scores = make_scores({"G1": 0.5, "G2": 0.1, "G3": 0.1, "G4": 0.1})
    first, again = run(scores), run(scores)
    assert first == again
    key = "G1|sudden_group|probability|2024-03-11|1|m1"
    assert first[0]["warning_id"] == hashlib.sha1(key.encode()).hexdigest()[:16]
    assert run(scores, model_version="m2")[0]["warning_id"] != first[0]["warning_id"]


def test_every_warning_is_json_with_only_the_documented_keys():
    panel = quiet_panel()
    panel["G1"] |= {"overdue_open_cases": [5, 6, 7, 8]}
    panel["G2"] |= {"collective_now": [0, 0, 0, 2], "periods_since_collective": [104] * 3 + [0]}
    surges = pd.DataFrame({"unit_id": ["S1"], "unit_name": ["浦头街道"], "ds": [AS_OF],
                           "y": [30.0], "yhat": [12.0], "yhat_upper": [20.0], "excess": [10.0]})
    scores = make_scores({"G1": 0.9, "G2": 0.1, "G3": float("nan"), "G4": 0.45})
    found = run(scores, panel=make_panel(panel), surges=surges,
                config=WarningsConfig(alert_budget=0.25))
    assert {w["rule"] for w in found} == {"probability", "surge", "weak_signal", "backlog"}
    for warning in found:
        assert tuple(warning) == WARNING_KEYS
        assert warning["level"] in LEVELS and warning["kind"] in KINDS
        json.dumps(warning, allow_nan=False)
    assert [w["level"] for w in found] == sorted((w["level"] for w in found), key=LEVELS.index)


# --- surges ------------------------------------------------------------------------------------


def surge_frame(**extra) -> pd.DataFrame:
    frame = pd.DataFrame({"unit_id": ["S2", "D1", "S1"], "unit_name": ["S two", "D one", "S one"],
                          "ds": [AS_OF, AS_OF, AS_OF - WEEK], "y": [30.0, 80.0, 50.0],
                          "yhat": [12.0, 60.0, 20.0], "yhat_upper": [20.0, 75.0, 25.0],
                          "excess": [10.0, 5.0, 25.0]})
    return frame.assign(**extra)


def test_surges_warn_on_the_unit_itself_for_the_as_of_period_only():
    found = run(surges=surge_frame())
    assert [(w["area_id"], w["level"], w["kind"], w["score"]) for w in found] == [
        ("S2", "orange", "spreading", 10.0), ("D1", "orange", "spreading", 5.0)]
    trigger = found[0]["evidence"]["trigger"]
    assert trigger["unit_level"] == "street" and trigger["excess"] == 10.0
    assert found[0]["evidence"]["counts"] == {"grids": 2}
    assert found[1]["evidence"]["trigger"]["unit_level"] == "district"
    assert (found[0]["horizon"], found[0]["period"]) == (0, "2024-03-04")


def test_surge_kind_follows_the_stream_that_surged():
    found = run(surges=surge_frame(stream=["collective", "dispute", "group"]),
                config=WarningsConfig(surge_level="red"))
    assert [(w["area_id"], w["kind"], w["level"]) for w in found] == [
        ("S2", "sudden_group", "red"), ("D1", "spreading", "red")]
    assert run(surges=surge_frame().iloc[:0]) == [] and run(surges=None) == []


# --- weak signals ------------------------------------------------------------------------------


@pytest.mark.parametrize(("quiet_before", "warns"), [(26, True), (27, True), (25, False)])
def test_first_collective_petition_after_quiet_periods(quiet_before, warns):
    panel = quiet_panel()
    panel["G3"] |= {"collective_now": [0, 0, 0, 1],
                    "periods_since_collective": [quiet_before - 2, quiet_before - 1,
                                                 quiet_before, 0]}
    found = run(panel=make_panel(panel))
    assert len(found) == int(warns)
    if warns:
        w = found[0]
        assert (w["area_id"], w["rule"], w["kind"], w["level"]) == (
            "G3", "weak_signal", "sudden_group", "yellow")
        assert w["evidence"]["trigger"]["quiet_periods_before"] == quiet_before


@pytest.mark.parametrize(("before", "now", "warns"), [
    (2, 3, True),  # rises to exactly the minimum
    (0, 5, True),
    (1, 2, False),  # rises, but below the minimum
    (3, 3, False),  # at the minimum, but not rising
    (4, 3, False),
])
def test_repeat_petitions_on_one_topic_rising_to_the_minimum(before, now, warns):
    panel = quiet_panel()
    panel["G2"] |= {"repeat_same_topic_max": [0, 0, before, now]}
    found = run(panel=make_panel(panel))
    assert [w["area_id"] for w in found] == (["G2"] if warns else [])


def test_weak_signals_need_the_previous_period_and_merge_into_one_warning():
    panel = make_panel(quiet_panel())
    now = panel["period"] == AS_OF
    panel.loc[now & (panel["area_id"] == "G1"), ["collective_now", "periods_since_collective",
                                                  "repeat_same_topic_max"]] = [1, 0, 4]
    lone = panel[~((panel["area_id"] == "G1") & (panel["period"] == AS_OF - WEEK))]
    assert run(panel=lone) == []
    found = run(panel=panel)
    assert len(found) == 1 and found[0]["score"] == 5.0  # 1 collective + 4 repeat petitions
    assert {"quiet_periods_before", "repeat_same_topic_max"} <= set(found[0]["evidence"]["trigger"])


def test_weak_signal_and_backlog_rules_skip_panels_without_their_columns():
    panel = make_panel(quiet_panel()).drop(columns=["collective_now", "overdue_open_cases"])
    assert run(panel=panel) == []


# --- backlog -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("overdue", "level"), [
    ([5, 6, 7, 8], "blue"),  # rising 3 periods in a row
    ([3, 4, 5, 6], "yellow"),  # ... and doubled over the rise
    ([0, 2, 4, 5], "yellow"),
    ([6, 6, 7, 8], None),  # rising only 2 periods
    ([9, 8, 9, 10], None),
    ([1, 2, 3, 4], None),  # rising, but below the minimum of 5
    ([2, 3, 4, 5], "yellow"),  # exactly the minimum
])
def test_backlog_rising_for_k_periods(overdue, level):
    panel = quiet_panel(periods=5)
    panel["G4"] |= {"overdue_open_cases": [99, *overdue]}  # the period before k+1 is ignored
    found = run(panel=make_panel(panel))
    assert [(w["area_id"], w["level"]) for w in found] == ([("G4", level)] if level else [])
    if level:
        w = found[0]
        assert (w["rule"], w["kind"], w["score"]) == ("backlog", "sinking_backlog", overdue[-1])
        assert w["evidence"]["trigger"]["overdue_open_cases"] == overdue


def test_backlog_escalation_is_one_level_above_the_configured_level():
    panel = quiet_panel()
    panel["G4"] |= {"overdue_open_cases": [1, 4, 6, 9]}
    found = run(panel=make_panel(panel), config=WarningsConfig(backlog_level="orange"))
    assert found[0]["level"] == "red"
    rows = make_panel(panel)
    assert run(panel=rows[~((rows["area_id"] == "G4") & (rows["period"] == AS_OF - WEEK))]) == []


# --- input errors ------------------------------------------------------------------------------


def test_scores_of_another_period_and_misaligned_contributions_are_refused():
    scores = make_scores({"G1": 0.5, "G2": 0.5})
    with pytest.raises(ValueError, match="as_of 2024-03-04"):
        run(scores.assign(period=AS_OF - WEEK))
    with pytest.raises(ValueError, match="one row per score row"):
        run(scores, make_contributions(scores).iloc[:1])


def test_every_kind_and_level_has_a_response_in_both_languages():
    assert set(SUGGESTED_RESPONSES) == {(k, lvl) for k in KINDS for lvl in LEVELS}
    for en, zh in SUGGESTED_RESPONSES.values():
        assert en.isascii() and not zh.isascii()


# --- the synthetic city, when it has been built ------------------------------------------------

PANEL = Path(__file__).resolve().parents[2] / "data/synthetic_city/features/panel.parquet"


@pytest.mark.slow
@pytest.mark.skipif(not PANEL.exists(), reason="the synthetic city has not been built")
def test_warnings_on_the_synthetic_city_panel():
    panel = read_table(PANEL.parent, "panel")
    catalogue = pd.read_csv(PANEL.with_name("catalogue.csv"))
    as_of = panel["period"].max()
    rows = panel[panel["period"] >= as_of - 3 * WEEK]
    now = rows[rows["period"] == as_of].reset_index(drop=True)
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"area_id": now["area_id"], "period": as_of, "horizon": 1,
                           "expected_count": now["all_ewm"].astype(float),
                           "risk_probability": rng.beta(1, 4, len(now))})
    features = [c for c in panel.columns if c not in ("area_id", "period")]
    contributions = pd.DataFrame(rng.normal(0, 0.1, (len(scores), len(features))),
                                 columns=features)
    found = issue_warnings(scores, contributions, rows, catalogue, AREAS, None, WarningsConfig(),
                           as_of, "synthetic")
    top = [w for w in found if w["rule"] == "probability" and w["level"] in ("red", "orange")]
    assert 0 < len(top) <= 0.05 * len(now)
    assert len({w["warning_id"] for w in found}) == len(found)
    json.dumps(found, allow_nan=False)
