"""Level overrides as requests meet them (serving/overrides.py): the periods and reasons they
may name, the model's level beside the override's, and set then clear with the history kept."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from riskgrid.errors import InputError
from riskgrid.experiment import load_experiment
from serving.overrides import (
    HeldOverrides,
    check_override,
    checked_period,
    override_request,
    with_overrides,
)
from serving.store import open_store
from tests.serving.conftest import SANE, write_experiment

LATEST = pd.Timestamp("2023-12-25")  # forecasts for 2024-01-01 (h1) and 2024-01-08 (h2)


@pytest.fixture
def experiment(tmp_path):
    return load_experiment(write_experiment(tmp_path, SANE))


def test_a_date_names_its_forecast_period_and_only_forecast_periods_are_taken():
    assert checked_period("2024-01-10", LATEST, [1, 2], "week") == (pd.Timestamp("2024-01-08"), 2)
    for day in ("2023-12-27", "2024-01-15"):  # observed already; not forecast
        with pytest.raises(InputError, match=rf"The period {day} is not one the forecasts are "
                           r"for \(2024-01-01 to 2024-01-08, as of 2023-12-25\)"):
            checked_period(day, LATEST, [1, 2], "week")


@pytest.mark.parametrize(("level", "reason", "model", "said"), [
    ("red", "dispute_settled", "yellow", "dispute_settled is for lowering a level, but red is "
     "above the model's yellow for A1"),
    ("none", "new_dispute", "orange", "new_dispute is for raising a level, but none is below"),
    ("orange", "other", "orange", "The model already has A1 at orange"),
    ("orange", "gut_feeling", None, "'gut_feeling' is not one of the experiment's override "
     "reasons (new_dispute, demolition_notice"),
    ("crimson", "other", None, "The level 'crimson' of the override of A1 is not a level"),
])
def test_an_override_that_does_not_fit_is_refused_in_one_sentence(experiment, level, reason,
                                                                   model, said):
    with pytest.raises(InputError, match=re.escape(said)):
        check_override(experiment, "A1", level, reason, model)
    check_override(experiment, "A1", "red", "data_error", "blue")  # either way: fine


def test_scores_show_the_override_with_the_model_level_beside_it_until_cleared(experiment):
    store = open_store("sqlite://")
    model = {"2024-01-01": ("yellow", "v3")}

    def request(**fields):
        return override_request(store, experiment, "A1", "2024-01-02", note="a site dispute",
                                who="Li", latest=LATEST, horizons=[1, 2],
                                model=lambda day, h: model.get(str(day.date()), (None, None)),
                                **fields)

    with pytest.raises(InputError, match="needs a level and a reason_code"):
        request(level="red", reason_code=None, clear=False)
    done = request(level="red", reason_code="new_dispute", clear=False)
    assert (done["override"]["period"], done["override"]["model_level"]) == ("2024-01-01",
                                                                             "yellow")
    assert done["override"]["reason_en"].startswith("A new dispute")
    scores = [{"area_id": "A1", "horizon": h, "risk_level": "yellow"} for h in (1, 2)]
    scores.append({"area_id": "A2", "horizon": 1, "risk_level": "blue"})
    held = HeldOverrides(experiment, max_age=0)  # read the store every time
    first, later, other = with_overrides(held.held(store), scores, LATEST, "week")
    assert (first["risk_level"], first["model_level"]) == ("red", "yellow")
    assert first["override"]["who"] == "Li" and first["override"]["reason_code"] == "new_dispute"
    assert (later["risk_level"], later["override"]) == ("yellow", None)  # another period
    assert (other["risk_level"], other["model_level"], other["override"]) == ("blue", "blue", None)

    with pytest.raises(InputError, match="Clearing an override takes no level"):
        request(level="red", reason_code=None, clear=True)
    cleared = request(level=None, reason_code=None, clear=True)
    assert [e["action"] for e in cleared["history"]] == ["set", "clear"]
    again = with_overrides(held.held(store), [{"area_id": "A1", "horizon": 1,
                                               "risk_level": "yellow"}], LATEST, "week")
    assert (again[0]["risk_level"], again[0]["override"]) == ("yellow", None)


def test_held_overrides_show_a_change_elsewhere_within_their_age_and_their_own_at_once(
        experiment):
    store, clock = open_store("sqlite://"), [100.0]
    held = HeldOverrides(experiment, max_age=2.0, clock=lambda: clock[0])
    assert held.held(store) == {}

    def set_override(area):
        store.set_override(experiment.name, area, "2024-01-01", "red", "new_dispute",
                           "a site dispute", "Li")

    set_override("A1")  # by the command line: this process is not told
    clock[0] += 1.9
    assert held.held(store) == {}  # still the copy read at 100.0
    clock[0] += 0.1
    assert set(held.held(store)) == {("A1", "2024-01-01")}
    assert held.held(store)[("A1", "2024-01-01")]["reason_en"].startswith("A new dispute")

    set_override("A2")  # by this process (POST /override), which says so
    held.changed()
    assert set(held.held(store)) == {("A1", "2024-01-01"), ("A2", "2024-01-01")}
    store.clear_override(experiment.name, "A1", "2024-01-01", "Li", "settled")
    held.changed()
    assert set(held.held(store)) == {("A2", "2024-01-01")}
