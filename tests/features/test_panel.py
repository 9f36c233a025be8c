"""The training panel: point-in-time correctness, shape, catalogue and hierarchy counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import build_panel
from features.hierarchy import level_counts
from features.panel import OUTCOME_PREFIX
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig
from tests.conftest import random_tables

CONFIG = FeaturesConfig(period="week", start="2023-01-02", end="2023-12-25")
CUTOFF = pd.Timestamp("2023-07-10")  # end of the week starting 2023-07-03


def rewrite_after_cutoff(incidents: pd.DataFrame, petitions: pd.DataFrame, seed: int = 99
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change every fact that became known after CUTOFF, and add and remove such records."""
    rng = np.random.default_rng(seed)
    inc, pet = incidents.copy(), petitions.copy()
    later = inc[C.REPORTED_AT] >= CUTOFF
    n = int(later.sum())
    inc.loc[later, C.OCCURRED_AT] = inc.loc[later, C.REPORTED_AT] - pd.to_timedelta(
        rng.uniform(0, 60, n), unit="D")
    inc.loc[later, C.AREA_ID] = rng.choice(inc[C.AREA_ID].unique(), n)
    inc.loc[later, C.CATEGORY] = "dispute.family"
    inc.loc[later, C.FAMILY] = "dispute"
    inc.loc[later, C.PEOPLE_INVOLVED] = 9
    closed_later = inc[C.CLOSED_AT].isna() | (inc[C.CLOSED_AT] >= CUTOFF)
    m = int(closed_later.sum())
    inc.loc[closed_later, C.CLOSED_AT] = CUTOFF + pd.to_timedelta(rng.uniform(0, 90, m), "D")
    inc.loc[closed_later, C.SATISFACTION] = rng.integers(1, 6, m).astype(float)
    inc[C.STATUS] = rng.choice(list(C.INCIDENT_STATUSES), len(inc))  # export-time fields
    inc[C.OVERDUE] = rng.random(len(inc)) < 0.5
    inc = inc.drop(inc.index[later][: n // 3])
    extra = inc[inc[C.REPORTED_AT] >= CUTOFF].head(50).copy()
    extra[C.INCIDENT_ID] = "new-" + extra[C.INCIDENT_ID]
    inc = pd.concat([inc, extra], ignore_index=True)

    filed_later = pet[C.FILED_AT] >= CUTOFF
    k = int(filed_later.sum())
    pet.loc[filed_later, C.AREA_ID] = rng.choice(pet[C.AREA_ID].unique(), k)
    pet.loc[filed_later, C.TOPIC] = "housing"
    pet.loc[filed_later, C.COLLECTIVE] = True
    pet.loc[filed_later, C.ESCALATION] = 3
    pet.loc[filed_later, C.PETITIONER_KEY] = "p_someone"
    open_later = pet[C.CLOSED_AT].isna() | (pet[C.CLOSED_AT] >= CUTOFF)
    pet.loc[open_later, C.CLOSED_AT] = CUTOFF + pd.to_timedelta(
        rng.uniform(0, 90, int(open_later.sum())), "D")
    pet[C.STATUS] = "closed"
    return inc, pet


def features_of(panel) -> pd.DataFrame:
    frame = panel.frame.set_index([C.AREA_ID, C.PERIOD])
    return frame[[c for c in frame.columns if not c.startswith(OUTCOME_PREFIX)]]


def test_features_ignore_everything_after_the_cutoff():
    areas, incidents, petitions = random_tables()
    original = features_of(build_panel(areas, incidents, petitions, CONFIG))
    changed = features_of(build_panel(areas, *rewrite_after_cutoff(incidents, petitions), CONFIG))
    before = original.index.get_level_values(C.PERIOD) < CUTOFF
    pd.testing.assert_frame_equal(original[before], changed[before])
    # The rewrite is big enough to show up after the cutoff, so the check above can fail.
    assert not original[~before].equals(changed[~before])


def test_a_late_report_counts_from_its_report_week_only():
    areas, _incidents, petitions = random_tables(n_incidents=0, n_petitions=0)
    late = pd.DataFrame([{
        C.INCIDENT_ID: "x", C.OCCURRED_AT: pd.Timestamp("2023-03-01"),
        C.REPORTED_AT: pd.Timestamp("2023-03-20"), C.CATEGORY: "dispute.neighbour",
        C.FAMILY: "dispute", C.CHANNEL: "online", C.AREA_ID: "A0", C.X: np.nan, C.Y: np.nan,
        C.PEOPLE_INVOLVED: 1, C.STATUS: "closed", C.CLOSED_AT: pd.NaT, C.OVERDUE: False,
        C.SATISFACTION: np.nan}])
    panel = build_panel(areas, late, petitions, CONFIG).frame.set_index([C.AREA_ID, C.PERIOD])
    sums = panel.loc["A0", "dispute_sum_4"]
    assert sums.loc["2023-03-13"] == 0  # occurred in the week of 02-27, not yet reported
    assert sums.loc["2023-03-20"] == 1  # reported: counted in its occurrence week's window
    assert sums.loc["2023-03-27"] == 0  # that week has left the 4-week window
    assert panel.loc[("A0", pd.Timestamp("2023-02-27")), f"{OUTCOME_PREFIX}dispute"] == 1


def test_panel_has_one_row_per_area_and_period_and_a_catalogued_column_per_feature():
    areas, incidents, petitions = random_tables()
    panel = build_panel(areas, incidents, petitions, CONFIG)
    assert len(panel.frame) == len(areas) * 52
    assert not panel.frame.duplicated([C.AREA_ID, C.PERIOD]).any()
    features = [c for c in panel.frame.columns
                if c not in (C.AREA_ID, C.PERIOD) and not c.startswith(OUTCOME_PREFIX)]
    # The catalogue (what training reads) holds the features that vary; the panel also keeps
    # the empty or constant ones (here: households, urban...), listed by family in left_out.
    left_out = [n.split(" (")[0] for names in panel.left_out.values() for n in names]
    assert [f for f in features if f not in left_out] == panel.feature_names
    assert set(features) == set(panel.feature_names) | set(left_out)
    assert "urban (constant)" in panel.left_out["static"]
    assert panel.catalogue["zh"].str.len().min() > 0 and panel.catalogue["en"].str.len().min() > 0
    assert {"counts", "trend", "calendar", "petitions", "handling", "static", "spread",
            "hierarchy"} <= set(panel.catalogue["family"])


def test_repeat_petitions_come_from_the_pseudonym():
    areas, incidents, _petitions = random_tables(n_petitions=0)
    rows = [{C.PETITION_ID: f"P{i}", C.FILED_AT: pd.Timestamp("2023-05-01") + pd.Timedelta(
        weeks=i), C.AREA_ID: "A1", C.TOPIC: "housing", C.PETITIONER_COUNT: 1,
        C.COLLECTIVE: False, C.REPEAT: False, C.ESCALATION: 0, C.STATUS: "open",
        C.CLOSED_AT: pd.NaT, C.PETITIONER_KEY: "p_same"} for i in range(3)]
    panel = build_panel(areas, incidents, pd.DataFrame(rows), CONFIG).frame
    a1 = panel[panel[C.AREA_ID] == "A1"].set_index(C.PERIOD)
    assert a1.loc["2023-05-15", "repeat_sum_4"] == 2  # the 2nd and 3rd visits
    assert a1.loc["2023-05-15", "repeat_same_topic_max"] == 2
    assert a1.loc["2023-05-15", "petitions_open"] == 3


def test_grid_counts_add_up_to_every_level():
    areas, incidents, petitions = random_tables()
    panel = build_panel(areas, incidents, petitions, CONFIG)
    counts = level_counts(panel.frame, areas)
    per_level = counts.groupby("level")["all"].sum()
    assert per_level.nunique() == 1 and per_level["grid"] > 0
    city = counts[counts["level"] == "city"].set_index("period")["dispute"]
    grids = panel.frame.groupby(C.PERIOD)[f"{OUTCOME_PREFIX}dispute"].sum()
    np.testing.assert_allclose(city.to_numpy(), grids.to_numpy())


@pytest.mark.parametrize("period, rows", [("day", 6 * 7), ("month", 6 * 3)])
def test_other_periods(period, rows):
    areas, incidents, petitions = random_tables(n_incidents=500, n_petitions=50)
    config = FeaturesConfig(period=period, start="2023-03-01", end="2023-05-31" if period ==
                            "month" else "2023-03-07", windows=[2, 4])
    panel = build_panel(areas, incidents, petitions, config)
    assert len(panel.frame) == rows
