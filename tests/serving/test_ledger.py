"""The forecast ledger and scorecard (serving/ledger.py) on SQLite and PostgreSQL, and the CLI."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from riskgrid.errors import InputError
from riskgrid.experiment import TrainingConfig
from riskgrid.settings import Settings
from serving.ledger import (
    hit_rate,
    level_tally,
    override_card,
    override_summary,
    panel_outcomes,
    record_backtest,
    record_vintage,
    scorecard,
    scorecard_trend,
)
from serving.store import Store, open_store
from serving.warnings import WarningsConfig
from tests.cli.test_app import riskgrid
from tests.serving import test_store as shared

# The store's own fixtures: a fresh SQLite file, and a fresh PostgreSQL schema (on the
# machine's server, or a private one tests/postgres.py starts).
pg_database, store_url, store, raw = shared.pg_database, shared.store_url, shared.store, shared.raw
warning = shared.warning

AS_OF = "2024-01-01"
TARGET = "2024-01-08"  # one week ahead


def scores(rows: list[tuple], horizon: int = 1) -> pd.DataFrame:
    """(area, expected, probability, low, high) rows of one horizon."""
    frame = pd.DataFrame(rows, columns=["area_id", "expected_count", "risk_probability", "low",
                                        "high"])
    return frame.assign(horizon=horizon, risk_level="blue")


def record(store: Store, frame: pd.DataFrame, as_of: str = AS_OF, experiment: str = "tiny",
           model_version: str = "7", source: str = "batch") -> str:
    return record_vintage(store, frame, source=source, experiment=experiment, as_of=as_of,
                          model_version=model_version, fingerprint="inputs-fp")


def outcomes(rows: list[tuple], period: str = TARGET) -> pd.DataFrame:
    """(area, count, flag) rows of one period."""
    frame = pd.DataFrame(rows, columns=["area_id", "count", "flag"])
    return frame.assign(period=pd.Timestamp(period))


# The hand-computed example: four grids, one week ahead.
EXAMPLE = [("A", 2.0, 0.9, 0, 4), ("B", 3.0, 0.2, 0, 5), ("C", 0.5, 0.6, 0, 1),
           ("D", 4.0, 0.7, 1, 7)]
HAPPENED = [("A", 3, 1), ("B", 0, 0), ("C", 4, 1), ("D", 1, 0)]


# --- recording ------------------------------------------------------------------------------
def test_a_rerun_adds_a_vintage_and_never_overwrites(store: Store, raw: Engine):
    first = record(store, scores(EXAMPLE))
    second = record(store, scores([(a, e + 1, p, lo, hi) for a, e, p, lo, hi in EXAMPLE]))
    assert first != second
    vintages = store.vintages(experiment="tiny")
    assert vintages["vintage_id"].tolist() == [second, first]  # newest first
    assert vintages["forecasts"].tolist() == [4, 4]
    assert set(vintages["as_of"]) == {AS_OF} and set(vintages["fingerprint"]) == {"inputs-fp"}
    kept = store.forecasts(vintage_ids=[first]).set_index("area_id")
    assert kept["expected_count"].to_dict() == {"A": 2.0, "B": 3.0, "C": 0.5, "D": 4.0}
    assert set(kept["target_period"]) == {TARGET} and set(kept["source"]) == {"batch"}
    for statement in ("UPDATE forecasts SET expected_count = 0", "DELETE FROM forecasts",
                      "DELETE FROM forecast_vintages"):
        with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(text(statement))
    assert len(store.forecasts(experiment="tiny")) == 8


def test_api_answers_record_as_they_are_with_target_periods(store: Store):
    answer = [{"area_id": "G1", "horizon": h, "expected_count": 1.5, "interval": [0.0, 4.0],
               "risk_probability": 0.25, "risk_level": "blue", "rank": 1, "percentile": 50.0,
               "drivers": [{"feature": "all_now"}]} for h in (1, 2)]
    weekly = record(store, pd.DataFrame(answer), source="api")
    monthly = record_vintage(store, pd.DataFrame(answer), source="report", experiment="tiny",
                             as_of=pd.Timestamp("2024-01-31"), model_version="7",
                             fingerprint="fp", period="month")
    got = store.forecasts(vintage_ids=[weekly, monthly]).sort_values(["source", "horizon"])
    assert got["target_period"].tolist() == ["2024-01-08", "2024-01-15",  # api: weeks
                                             "2024-02-29", "2024-03-31"]  # report: months
    assert got[["low", "high"]].drop_duplicates().to_numpy().tolist() == [[0.0, 4.0]]


def test_bad_forecasts_are_input_errors_and_store_nothing(store: Store):
    good = scores(EXAMPLE)
    with pytest.raises(InputError, match="source 'cache'.*api, batch, report, backtest"):
        record(store, good, source="cache")
    with pytest.raises(InputError, match="lack the columns risk_level"):
        record(store, good.drop(columns="risk_level"))
    with pytest.raises(InputError, match="Area A has more than one horizon 1"):
        record(store, pd.concat([good, good.head(1)]))
    with pytest.raises(InputError, match="missing or infinite"):
        record(store, good.assign(expected_count=[1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(InputError, match="as_of 'last week' is not a date"):
        record(store, good, as_of="last week")
    with pytest.raises(InputError, match="no forecasts to record"):
        record(store, good.head(0))
    assert store.vintages().empty


def test_thousands_of_forecasts_insert_in_one_quick_transaction(store: Store):
    n = 2500
    frame = pd.DataFrame({"area_id": [f"G{i:04d}" for i in range(n)] * 4,
                          "horizon": np.repeat([1, 2, 3, 4], n), "expected_count": 1.25,
                          "low": 0.0, "high": 3.0, "risk_probability": 0.3,
                          "risk_level": "blue"})
    start = time.perf_counter()
    vintage = record(store, frame)
    elapsed = time.perf_counter() - start
    assert len(store.forecasts(vintage_ids=[vintage])) == 4 * n
    assert elapsed < 15, f"10,000 forecasts took {elapsed:.1f} s to record"


def test_backtest_predictions_become_one_vintage_per_as_of_and_only_once(store: Store):
    periods = pd.to_datetime(["2023-06-05", "2023-06-12", "2023-06-19"])
    frame = pd.DataFrame([
        {"fold": 0, "period": p, "area_id": a, "horizon": h, "y": 1.0, "flag": 0.0,
         "model_count": 2.0 + i, "model_probability": 0.1 * (i + 1)}
        for p in periods for h in (1, 2) for i, a in enumerate(["G1", "G2", "G3"])])
    config = WarningsConfig(blue=0.15, yellow=0.25, orange=0.9, red=0.95)
    ids = record_backtest(store, frame, experiment="tiny", model_version="backtest:abc",
                          fingerprint="fp", interval=0.8, warnings=config)
    assert len(ids) == 3
    vintages = store.vintages(experiment="tiny", source="backtest")
    assert vintages["as_of"].tolist() == ["2023-06-19", "2023-06-12", "2023-06-05"]
    assert vintages["forecasts"].tolist() == [6, 6, 6]
    got = store.forecasts(vintage_ids=ids)
    first = got[(got["as_of"] == "2023-06-05") & (got["horizon"] == 2)].set_index("area_id")
    assert first["target_period"].unique().tolist() == ["2023-06-19"]
    assert first["risk_level"].to_dict() == {"G1": "none", "G2": "blue", "G3": "yellow"}
    # 80% Poisson interval around 2: the 10% and 90% quantiles are 0 and 4.
    assert first.loc["G1", ["low", "high"]].tolist() == [0.0, 4.0]
    assert record_backtest(store, frame, experiment="tiny", model_version="backtest:abc",
                           fingerprint="fp") == []
    assert len(store.vintages(source="backtest")) == 3
    with pytest.raises(InputError, match="lack the columns risk_probability"):
        record_backtest(store, frame.drop(columns="model_probability"), experiment="tiny",
                        model_version="backtest:other", fingerprint="fp")


# --- the scorecard --------------------------------------------------------------------------
def test_scorecard_matches_the_hand_computed_example(store: Store):
    vintage = record(store, scores(EXAMPLE))
    record(store, scores(EXAMPLE, horizon=2))  # targets 2024-01-15: not observed yet
    record(store, scores(EXAMPLE), experiment="other")  # another experiment's ledger
    card = scorecard(store, "tiny", outcomes(HAPPENED), alert_budget=0.5)
    assert len(card) == 1
    row = card.iloc[0]
    assert (row["vintage_id"], row["horizon"], row["n"]) == (vintage, 1, 4)
    assert (row["as_of"], row["target_period"], row["source"]) == (AS_OF, TARGET, "batch")
    # |2-3| + |3-0| + |0.5-4| + |4-1| = 10.5 over 4
    assert row["mae"] == pytest.approx(2.625)
    # 2 [y ln(y/mu) - (y - mu)]: A 0.432790, B 6, C 9.635532, D 3.227411; mean 4.823933
    assert row["poisson_deviance"] == pytest.approx(4.823933, abs=1e-6)
    # (0.9-1)^2 + 0.2^2 + (0.6-1)^2 + 0.7^2 = 0.70 over 4
    assert row["brier"] == pytest.approx(0.175)
    assert row["mean_probability"] == pytest.approx(0.6)
    assert row["observed_rate"] == pytest.approx(0.5)
    # The forecast's top 2 by probability are A and D; the actual top 2 by count C and A.
    # (Ranking by expected count, D and B, would score 0.)
    assert row["hit_rate"] == pytest.approx(0.5)
    assert row["coverage"] == pytest.approx(0.75)  # C's 4 is above its interval [0, 1]


def test_scorecard_counts_warnings_confirmed_and_dismissed_as_false_alarms(store: Store):
    record(store, scores(EXAMPLE))
    common = {"as_of": AS_OF, "model_version": "7"}
    store.save_warnings([
        warning("C", period=TARGET, horizon=1, **common),  # C's flag was on: confirmed
        warning("B", period=TARGET, horizon=1, **common),  # B's was not
        warning("D", period=AS_OF, horizon=0, rule="surge", **common),  # judged by next week
        warning("D01", period=AS_OF, horizon=0, rule="surge", **common),  # a district: not scored
        warning("A", period=TARGET, horizon=1, as_of=AS_OF, model_version="6"),  # other model
    ])
    (b_warning,) = store.query_warnings(area_ids=["B"])
    store.warning_action(b_warning["warning_id"], "dismiss", "duty officer",
                         reason="false_alarm")
    row = scorecard(store, "tiny", outcomes(HAPPENED), alert_budget=0.5).iloc[0]
    assert (row["warnings"], row["warnings_confirmed"], row["warnings_false_alarm"]) == (3, 1, 1)


def test_level_tally_counts_each_levels_forecasts_and_how_many_came_true(store: Store):
    levels = ["red", "orange", "orange", "none"]
    record(store, scores(EXAMPLE).assign(risk_level=levels))
    record(store, scores(EXAMPLE).assign(risk_level=levels))  # a re-run counts once
    record(store, scores(EXAMPLE).assign(risk_level="red"), as_of="2023-10-02")  # too old
    tally = level_tally(store.forecasts(experiment="tiny"), outcomes(HAPPENED),
                        pd.Timestamp(TARGET), horizon=1, periods=13)
    # A red came true; of the orange B and C only C did; D (no level) is not a warning.
    assert tally[["source", "level", "forecasts", "came_true"]].values.tolist() == [
        ["batch", "red", 1, 1], ["batch", "orange", 2, 1]]
    assert tally["first_target"].iat[0] == "2023-10-16"  # 13 weeks up to 2024-01-08
    empty = level_tally(store.forecasts(experiment="tiny"), outcomes(HAPPENED),
                        pd.Timestamp(TARGET), horizon=2, periods=13)
    assert empty.empty


def test_overrides_are_scored_apart_from_the_model_and_say_who_was_closer(store: Store):
    week = {"G1": 1.0, "G2": 0.0, "G3": 1.0, "G4": 0.0}  # whether the flag came on on TARGET
    outcomes = pd.DataFrame({"area_id": list(week), "period": pd.Timestamp(TARGET),
                             "count": [3.0, 0.0, 2.0, 0.0], "flag": list(week.values())})
    areas = pd.DataFrame({"area_id": ["G1", "G2", "G3", "G4"],
                          "street_id": ["S1", "S1", "S2", "S2"]})
    for area, level, model, reason in [
            ("G1", "red", "yellow", "new_dispute"),  # raised, came true: the meeting closer
            ("G2", "orange", "blue", "sensitive_period"),  # raised, stayed quiet: the model
            ("G3", "none", "orange", "dispute_settled"),  # lowered, came true: the model
            ("G4", "none", "yellow", "measures_in_place"),  # lowered, quiet: the meeting
            ("S1", "red", None, "petition_signs")]:  # a street, the model's level unknown
        store.set_override("tiny", area, TARGET, level, reason, "why", "Li", model_level=model)
    store.set_override("tiny", "G1", "2024-01-15", "red", "new_dispute", "later", "Li",
                       model_level="blue")  # not observed yet: not scored
    card = override_card(store.overrides("tiny"), outcomes, areas).set_index("area_id")
    assert list(card.index) == ["G1", "G2", "G3", "G4", "S1"]
    assert list(card["direction"]) == ["raised", "raised", "lowered", "lowered", None]
    assert list(card["came_true"]) == [True, False, True, False, True]  # S1: G1's flag
    assert list(card["closer"]) == ["meeting", "model", "model", "meeting", None]
    assert override_summary(card.reset_index()) == [
        {"direction": "raised", "overrides": 2, "came_true": 1, "meeting_closer": 1,
         "model_closer": 1},
        {"direction": "lowered", "overrides": 2, "came_true": 1, "meeting_closer": 1,
         "model_closer": 1}]


def test_hit_rate_gives_ties_to_the_forecast_and_ignores_quiet_areas():
    areas = ["A", "B", "C", "D"]
    probability = np.array([0.9, 0.8, 0.1, 0.05])
    expected = np.ones(4)
    # Everyone had 1 event: any two are the top two, so the forecast's two are right.
    assert hit_rate(areas, probability, expected, np.array([1, 1, 1, 1]), 0.5) == 1.0
    # Only C had events: the actual top list is C alone, which the forecast missed.
    assert hit_rate(areas, probability, expected, np.array([0, 0, 2, 0]), 0.5) == 0.0
    assert math.isnan(hit_rate(areas, probability, expected, np.zeros(4), 0.5))
    # A budget below one area still makes a one-area list; a zero budget makes none.
    assert hit_rate(areas, probability, expected, np.array([3, 0, 0, 0]), 0.01) == 1.0
    assert math.isnan(hit_rate(areas, probability, expected, np.array([3, 0, 0, 0]), 0.0))
    # Equal probabilities: expected count, then area id, decide the forecast's list.
    flat = np.full(4, 0.5)
    assert hit_rate(areas, flat, np.array([1, 1, 5, 1.0]), np.array([0, 0, 4, 0]), 0.25) == 1.0
    assert hit_rate(areas, flat, np.ones(4), np.array([0, 4, 0, 0]), 0.25) == 0.0


def test_scorecard_is_newest_first_and_the_trend_compares_recent_with_earlier(store: Store):
    weeks = pd.date_range("2024-01-01", periods=5, freq="7D")
    happened = pd.concat([outcomes([("A", 2, 1), ("B", 0, 0)], period=str(w.date()))
                          for w in weeks], ignore_index=True)
    for i, week in enumerate(weeks[:4]):  # errors 4, 3, 2, 1: getting better
        record(store, scores([("A", 2.0 + 4 - i, 0.5, 0, 9), ("B", 0.0, 0.5, 0, 9)]),
               as_of=str(week.date()))
    card = scorecard(store, "tiny", happened, alert_budget=0.5)
    assert card["as_of"].tolist() == ["2024-01-22", "2024-01-15", "2024-01-08", "2024-01-01"]
    assert card["mae"].tolist() == pytest.approx([0.5, 1.0, 1.5, 2.0])
    trend = scorecard_trend(card, window=2).set_index("metric")
    assert trend.loc["mae", "recent"] == pytest.approx(0.75)
    assert trend.loc["mae", "previous"] == pytest.approx(1.75)
    assert trend.loc["mae", "improved"] is True
    assert trend.loc["coverage", "improved"] is None
    assert scorecard(store, "nothing here", happened, 0.5).empty


def test_outcomes_are_the_final_counts_and_the_experiments_risk_flag():
    periods = pd.date_range("2024-01-01", periods=4, freq="7D")
    panel = pd.DataFrame({
        "area_id": np.repeat(["G2", "G1"], 4), "period": np.tile(periods, 2),
        "outcome_all": [5, 1, 2, 9, 0, 0, 1, 0], "all_now": 0,  # _now is point-in-time only
        "outcome_collective": [0, 0, 1, 0, 0, 0, 0, 0], "outcome_group": [0, 0, 0, 0, 2, 0, 0, 0],
    })
    events = panel_outcomes(panel, TrainingConfig()).set_index(["area_id", "period"])
    assert events.loc["G2", "count"].tolist() == [5, 1, 2, 9]
    assert events.loc["G2", "flag"].tolist() == [0, 0, 1, 0]
    assert events.loc["G1", "flag"].tolist() == [1, 0, 0, 0]
    above = panel_outcomes(panel, TrainingConfig(risk_flag="above_quantile", flag_quantile=0.5))
    above = above.set_index(["area_id", "period"])
    assert above.loc["G2", "flag"].tolist() == [1, 0, 0, 1]  # above G2's median of 3.5
    assert above.loc["G1", "flag"].tolist() == [0, 0, 1, 0]  # above G1's median of 0
    with pytest.raises(InputError, match="outcome_dispute"):
        panel_outcomes(panel, TrainingConfig(target="dispute"))


# --- the command line -----------------------------------------------------------------------
TINY = """name = "tiny"
sources = {}
[areas]
path = "unused.csv"
[warnings]
alert_budget = 0.5
"""


def test_scorecard_command_records_the_backtest_file_and_prints_the_card(tmp_path):
    data = tmp_path / "data"
    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    features = data / "tiny" / "features"
    features.mkdir(parents=True)
    weeks = pd.date_range(AS_OF, periods=3, freq="7D")
    happened = {"A": [0, 3, 1], "B": [0, 0, 2], "C": [0, 4, 0], "D": [0, 1, 0]}
    pd.DataFrame({"area_id": np.repeat(list(happened), 3), "period": np.tile(weeks, 4),
                  "outcome_all": np.concatenate(list(happened.values())).astype(float),
                  "outcome_collective": [0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0],
                  "outcome_group": 0.0}).to_parquet(features / "panel.parquet")
    (features / "meta.json").write_text(json.dumps({"input_fingerprint": "panel-fp"}))
    (features / "catalogue.json").write_text("[]")
    store = open_store(Settings(data_dir=data).store_url())
    record(store, scores(EXAMPLE))
    store.set_override("tiny", "A", "2024-01-15", "red", "new_dispute", "a quarrel", "Li",
                       model_level="blue")  # A had no collective petition that week
    store.close()
    backtest = data / "tiny" / "backtest"
    backtest.mkdir()
    pd.DataFrame({"period": pd.Timestamp("2024-01-08"), "area_id": list(happened),
                  "horizon": 1, "expected_count": [1.0, 1.0, 1.0, 1.0],
                  "risk_probability": [0.1, 0.9, 0.2, 0.3]}).to_parquet(
        backtest / "predictions.parquet")
    out = tmp_path / "card.json"
    for _ in range(2):  # the backtest file is recorded once, however often the card is drawn
        done = riskgrid("scorecard", str(experiment), "--json", str(out), data_dir=data)
        assert done.returncode == 0, done.stderr
    card = json.loads(out.read_text())
    assert card["vintages"] == 2
    newest, oldest = card["rows"]
    assert (newest["as_of"], newest["source"], newest["model_version"][:9]) == (
        "2024-01-08", "backtest", "backtest:")
    # Target 2024-01-15: counts 1, 2, 0, 0 against forecasts of 1: MAE 0.75; the flags
    # (collective petitions) are A 0, B 1, C 0, D 0.
    assert newest["mae"] == pytest.approx(0.75)
    assert newest["brier"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.09) / 4)
    assert newest["hit_rate"] == pytest.approx(0.5)  # top two forecast B, D; actual B, A
    assert oldest["brier"] == pytest.approx(0.175)  # the hand-computed example again
    assert oldest["mae"] == pytest.approx(2.625)
    assert {t["metric"] for t in card["trend"]} >= {"mae", "brier", "hit_rate"}
    assert "2024-01-08" in done.stdout and "2 vintages scored" in done.stdout
    # The levels in plain words: the batch's 4 blue forecasts for 2024-01-08 (A and C had a
    # collective petition); the backtest's red B (it had one on 2024-01-15) and blue C and D
    # (by the default thresholds, D and B held within the alert budget of 2).
    tally = {(r["source"], r["level"]): (r["forecasts"], r["came_true"]) for r in card["levels"]}
    assert tally == {("batch", "blue"): (4, 2), ("backtest", "red"): (1, 1),
                     ("backtest", "blue"): (2, 0)}
    assert "of 1 red forecasts from the backtest" in " ".join(done.stdout.split())
    assert card["overrides"]["summary"] == [{"direction": "raised", "overrides": 1,
                                             "came_true": 0, "meeting_closer": 0,
                                             "model_closer": 1}]
    assert card["overrides"]["rows"][0]["closer"] == "model"
    assert "levels the meeting raised, for periods now past: 1, of which 0 came true" in \
        " ".join(done.stdout.split())


def test_scorecard_before_any_features_says_what_to_run(tmp_path):
    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    done = riskgrid("scorecard", str(experiment), data_dir=tmp_path / "data")
    assert done.returncode == 2 and "riskgrid features" in done.stderr
    assert "Traceback" not in done.stderr


def test_score_command_records_a_batch_vintage_with_the_champion(tmp_path):
    from riskgrid.experiment import load_experiment
    from tests.serving.conftest import SANE, train_and_promote, write_experiment
    from tests.training.test_registry import write_inputs

    settings = Settings(data_dir=tmp_path / "data", pseudonym_secret="test")
    experiment = write_experiment(tmp_path, SANE)
    write_inputs(load_experiment(experiment), settings)
    train_and_promote(experiment, settings, "first model")
    for as_of in ([], ["--as-of", "2023-10-04"]):
        done = riskgrid("score", str(experiment), *as_of, data_dir=settings.data_dir)
        assert done.returncode == 0, done.stderr
        assert "12 forecasts (6 grids x horizons [1, 2])" in done.stdout
    store = open_store(settings.store_url())
    vintages = store.vintages(experiment="tiny")
    assert vintages["source"].tolist() == ["batch", "batch"]
    assert vintages["as_of"].tolist() == ["2023-12-25", "2023-10-02"]  # the period holding it
    assert set(vintages["fingerprint"]) == {json.loads(
        (settings.data_dir / "tiny" / "features" / "meta.json").read_text())["input_fingerprint"]}
    forecasts = store.forecasts(experiment="tiny")
    assert len(forecasts) == 24 and forecasts["risk_probability"].between(0, 1).all()
    assert set(forecasts.loc[forecasts["as_of"] == "2023-12-25", "target_period"]) == {
        "2024-01-01", "2024-01-08"}
    bad = riskgrid("score", str(experiment), "--as-of", "1999-01-01", data_dir=settings.data_dir)
    assert bad.returncode == 2 and "outside the data" in bad.stderr
