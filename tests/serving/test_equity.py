"""Equity and feedback diagnostics, checked against hand computations on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskgrid import vocabulary as C
from serving.equity import (
    equity_table,
    equity_trend,
    from_incidents,
    ledger_flags,
    officer_counts,
    officer_signal,
    with_live,
)
from serving.ledger import record_vintage
from serving.scoring import Snapshot
from serving.store import open_store

WEEKS = pd.date_range("2024-01-01", periods=4, freq="7D")
# Two streets of two grids in one district; 10,000 residents in all.
AREAS = pd.DataFrame({C.AREA_ID: ["A", "B", "C", "D"], C.STREET_ID: ["S1", "S1", "S2", "S2"],
                      C.STREET_NAME: ["东街", "东街", "西街", "西街"], C.DISTRICT_ID: "D1",
                      C.POPULATION: [4000.0, 2000.0, 3000.0, 1000.0]})
# The ledger's levels in weeks 1-3 (week 0 has no vintage).
LEVELS = {"A": ["red", "red", "orange"], "B": ["none", "blue", "blue"],
          "C": ["none", "none", "yellow"], "D": ["none", "none", "none"]}


def flags() -> pd.DataFrame:
    return pd.DataFrame([{C.AREA_ID: a, C.PERIOD: WEEKS[1 + i], "risk_level": lv}
                         for a, row in LEVELS.items() for i, lv in enumerate(row)])


def counts() -> pd.DataFrame:
    """The hierarchy counts table: every week, S1 has 30 incidents and S2 10."""
    rows = []
    for week in WEEKS:
        for level, unit, n in (("city", "city", 40), ("district", "D1", 40),
                               ("street", "S1", 30), ("street", "S2", 10)):
            rows.append({"level": level, "unit_id": unit, C.PERIOD: week, "all": float(n)})
    return pd.DataFrame(rows)


def incidents() -> pd.DataFrame:
    """Week 3: A has 10 incidents, 6 found on patrol; C has 4, 1 found on patrol."""
    rows = [("A", "grid_officer")] * 6 + [("A", "hotline_12345")] * 4 + \
        [("C", "city_management")] + [("C", "online")] * 3
    return pd.DataFrame({C.AREA_ID: [a for a, _ in rows], C.CHANNEL: [c for _, c in rows],
                         C.OCCURRED_AT: WEEKS[3] + pd.Timedelta(days=2)})


def table() -> pd.DataFrame:
    officer = officer_counts(incidents(), WEEKS, ["grid_officer", "city_management"])
    return equity_table(flags(), AREAS, counts(), officer, WEEKS, "all", 2).set_index(
        ["level", "unit_id", C.PERIOD]).sort_index()


def test_warnings_per_resident_and_their_share_against_residents_and_incidents():
    t = table()
    city, s1, s2 = (t.loc[(lv, u, WEEKS[3])] for lv, u in (("city", "city"), ("street", "S1"),
                                                            ("street", "S2")))
    # week 3: A orange, B blue, C yellow are warned; A alone is red or orange
    assert (city["flagged"], city["high"], city["grids"]) == (3, 1, 4)
    assert city["flagged_per_10k"] == pytest.approx(3.0)
    assert s1["flagged_per_10k"] == pytest.approx(2 / 6000 * 10_000)
    assert s2["high_per_10k"] == 0.0
    assert (s1["flag_share"], s1["population_share"]) == pytest.approx((2 / 3, 0.6))
    assert s1["incident_share"] == pytest.approx(0.75)  # 60 of 80 in the last two weeks
    assert s1["flag_vs_incidents"] == pytest.approx((2 / 3) / 0.75)
    assert s2["flag_vs_population"] == pytest.approx((1 / 3) / 0.4)
    assert sorted(set(t.index.get_level_values(C.PERIOD))) == list(WEEKS[1:])


def test_persistence_counts_the_grids_warned_again_and_for_how_long():
    t = table()
    city = t.loc[("city", "city")]
    # week 1: no vintage before it; week 2: A red again, B new; week 3: A and B again, C new
    assert np.isnan(city.loc[WEEKS[1], "repeat_share"])
    assert city.loc[WEEKS[2], "repeat_share"] == pytest.approx(1 / 2)
    assert city.loc[WEEKS[3], "repeat_share"] == pytest.approx(2 / 3)
    assert city.loc[WEEKS[3], "mean_run"] == pytest.approx((3 + 2 + 1) / 3)
    assert t.loc[("street", "S1", WEEKS[3]), "mean_run"] == pytest.approx(2.5)
    assert np.isnan(t.loc[("street", "S2", WEEKS[2]), "mean_run"])  # nothing warned there
    trend = {r["metric"]: r for r in equity_trend(t.reset_index(), recent=1)}
    assert trend["repeat_share"]["recent"] == pytest.approx(2 / 3)
    assert trend["repeat_share"]["previous"] == pytest.approx(1 / 2)
    assert trend["repeat_share"]["improved"] is None


def test_officer_found_shares_of_incidents_in_all_and_in_warned_grids():
    t = table()
    assert t.loc[("city", "city", WEEKS[3]), "officer_share"] == pytest.approx(7 / 14)
    assert t.loc[("street", "S1", WEEKS[3]), "officer_share"] == pytest.approx(6 / 10)
    # warned in week 3: A (6 of 10) and C (1 of 4)
    assert t.loc[("city", "city", WEEKS[3]), "flagged_officer_share"] == pytest.approx(7 / 14)
    assert np.isnan(t.loc[("street", "S2", WEEKS[1]), "officer_share"])  # no incident yet
    # without any incident from a patrol channel, who found what is not known
    assert officer_counts(incidents(), WEEKS, ["patrol_car"]) is None
    blind = equity_table(flags(), AREAS, counts(), None, WEEKS, "all", 2)
    assert blind["officer_share"].isna().all() and blind["flagged"].sum() > 0


def snapshot() -> Snapshot:
    """Grids A and C at week 3 with three inputs' contributions and the base value."""
    contributions = np.array([[0.6, 0.2, 0.2, -1.0],   # incidents, petitions, calendar, base
                              [-0.3, 0.5, 0.5, -1.0]])
    return Snapshot(as_of=WEEKS[3], area_ids=np.array(["A", "C"]), position={"A": 0, "C": 1},
                    horizons={1: pd.DataFrame({"risk_level": ["red", "none"]})},
                    inputs={1: np.zeros((2, 3))}, contributions={1: contributions},
                    typical={1: np.zeros(3)})


def test_the_officers_share_of_the_signal_splits_incident_features_by_patrol_finds():
    catalogue = pd.DataFrame({"name": ["neighbours_all_sum_4", "collective_sum_13", "month"],
                              "family": ["spread", "counts", "calendar"]})
    officer = officer_counts(incidents(), WEEKS, ["grid_officer", "city_management"])
    found = officer_signal(snapshot(), 1, list(catalogue["name"]), catalogue, officer, AREAS,
                           WEEKS, 2).set_index(["level", "unit_id"])
    # A: positive signal 1.0, of which the incident feature's 0.6 is 6/10 patrol finds;
    # C: positive signal 1.0 from petitions and the calendar only
    assert found.loc[("street", "S1"), "officer_signal_share"] == pytest.approx(0.36)
    assert found.loc[("street", "S2"), "officer_signal_share"] == pytest.approx(0.0)
    assert found.loc[("city", "city"), "officer_signal_share"] == pytest.approx(0.36 / 2)
    assert from_incidents("overdue_open_cases", "handling")
    assert not from_incidents("street_collective_sum_13", "hierarchy")
    assert officer_signal(snapshot(), 1, list(catalogue["name"]), catalogue, None, AREAS,
                          WEEKS, 2).empty


def test_flags_come_from_the_vintage_the_ledger_shows_and_the_live_period_fills_in(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    base = {C.AREA_ID: ["A", "B"], "horizon": 1, "expected_count": 1.0, "low": 0.0,
            "high": 3.0, "risk_probability": 0.5}
    for source, level in (("backtest", "red"), ("api", "blue")):
        record_vintage(store, pd.DataFrame({**base, "risk_level": level}), source=source,
                       experiment="tiny", as_of=WEEKS[1], model_version="v1", fingerprint="f")
    record_vintage(store, pd.DataFrame({**base, "horizon": 2, "risk_level": "red"}),
                   source="batch", experiment="tiny", as_of=WEEKS[2], model_version="v1",
                   fingerprint="f")
    found = ledger_flags(store, "tiny", horizon=1)
    assert found["risk_level"].tolist() == ["blue", "blue"]  # the API's, as the dashboard
    assert set(found[C.PERIOD]) == {WEEKS[1]}  # week 2 holds horizon 2 only
    live = with_live(found, snapshot(), 1)
    assert set(live.loc[live[C.PERIOD] == WEEKS[3], "risk_level"]) == {"red", "none"}
    assert len(with_live(live, snapshot(), 1)) == len(live)  # once the period is there
    assert ledger_flags(open_store(f"sqlite:///{tmp_path / 'empty.db'}"), "tiny", 1).empty
