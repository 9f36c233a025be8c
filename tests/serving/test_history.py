"""Past periods from the forecast ledger (serving/history.py): which vintage shows, its ranks."""

from __future__ import annotations

import time

import pytest

from riskgrid.errors import InputError
from serving.history import ledger_periods, ledger_scores, ledger_vintage
from tests.serving import test_store as shared
from tests.serving.test_ledger import record, scores

pg_database, store_url, store = shared.pg_database, shared.store_url, shared.store


def test_each_period_shows_one_vintage_the_services_before_the_backtests(store):
    rows = [("A", 2.0, 0.9, 0, 4), ("B", 3.0, 0.2, 0, 5), ("C", 0.5, 0.6, 0, 1)]
    record(store, scores(rows), as_of="2024-01-01", source="backtest", model_version="bt")
    batch = record(store, scores(rows), as_of="2024-01-01", source="batch", model_version="3")
    time.sleep(0.01)
    newer = record(store, scores(rows), as_of="2024-01-01", source="batch", model_version="4")
    later = record(store, scores(rows), as_of="2024-01-08", source="backtest",
                   model_version="bt")
    record(store, scores(rows), as_of="2024-01-15", experiment="other")

    periods = ledger_periods(store, "tiny")
    assert [(p["as_of"], p["vintage_id"]) for p in periods] == [
        ("2024-01-08", later), ("2024-01-01", newer)]
    assert batch != newer and periods[1]["source"] == "batch" and periods[1]["forecasts"] == 3
    assert periods[1]["model_version"] == "4"
    assert ledger_periods(store, "nobody") == []


def test_a_past_periods_scores_are_the_ledgers_ranked_among_all_its_grids(store):
    rows = [("A", 2.0, 0.9, 0, 4), ("B", 3.0, 0.2, 0, 5), ("C", 0.5, 0.6, 0, 1),
            ("D", 1.0, 0.6, 0, 2)]
    record(store, scores(rows), as_of="2024-01-01")
    vintage = ledger_vintage(store, "tiny", "2024-01-01")
    found = ledger_scores(store, vintage, ["D", "B", "C", "Z"], horizon=1)
    assert [s["area_id"] for s in found] == ["D", "B", "C"]  # Z was never forecast
    by_area = {s["area_id"]: s for s in found}
    # A 0.9 first; D and C tie on 0.6 and D expects more; B last
    assert {a: s["rank"] for a, s in by_area.items()} == {"D": 2, "C": 3, "B": 4}
    assert by_area["B"]["interval"] == [0.0, 5.0] and by_area["B"]["expected_count"] == 3.0
    assert by_area["D"]["risk_level"] == "blue" and by_area["D"]["drivers"] == []

    with pytest.raises(InputError, match="no forecasts as of 2023-12-25"):
        ledger_vintage(store, "tiny", "2023-12-25")
    with pytest.raises(InputError, match="no horizon 3"):
        ledger_scores(store, vintage, ["A"], horizon=3)
