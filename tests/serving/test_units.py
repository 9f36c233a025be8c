"""Scores of units above the grids (serving/units.py), added up from their grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from serving.units import memberships, unit_drivers, unit_table
from serving.warnings import WarningsConfig

AREAS = pd.DataFrame({"area_id": ["g1", "g2", "g3", "g4"], "community_id": ["c1", "c1", "c2", "c3"],
                      "street_id": ["s1", "s1", "s1", "s2"], "district_id": "d1"})
GRIDS = pd.DataFrame({"area_id": ["g1", "g2", "g3", "g4"], "horizon": 1,
                      "expected_count": [1.0, 2.5, 0.5, 4.0],
                      "risk_probability": [0.1, 0.2, 0.5, 0.05]})


def test_every_unit_knows_its_grids_in_snapshot_order():
    members = memberships(AREAS, np.array(["g4", "g1", "g2", "g3"]))
    assert members["c1"] == ("community", pytest.approx(np.array([1, 2])))
    assert members["s1"][0] == "street" and members["s1"][1].tolist() == [1, 2, 3]
    assert members["d1"][1].tolist() == [0, 1, 2, 3] and members["city"][0] == "city"


def test_a_unit_sums_its_grids_and_takes_the_poisson_interval_of_the_sum():
    members = memberships(AREAS, AREAS["area_id"].to_numpy())
    config = WarningsConfig(red=0.6, orange=0.5, yellow=0.3, blue=0.1, alert_budget=1.0)
    streets = unit_table(GRIDS, members, "street", config, interval=0.8).set_index("area_id")
    s1 = streets.loc["s1"]
    assert s1["expected_count"] == pytest.approx(4.0) and s1["grids"] == 3
    # 1 - 0.9 x 0.8 x 0.5: at least one of three independent grids high-risk
    assert s1["risk_probability"] == pytest.approx(0.64)
    assert (s1["low"], s1["high"]) == (poisson.ppf(0.1, 4.0), poisson.ppf(0.9, 4.0))
    assert s1["low"] > 0  # the sum of the grids' lower bounds (0 + 1 + 0) is not the interval
    assert s1["risk_level"] == "red" and streets.loc["s2", "risk_level"] == "none"
    assert streets["rank"].to_dict() == {"s1": 1, "s2": 2}
    assert streets["percentile"].to_dict() == {"s1": 100.0, "s2": 0.0}


def test_units_share_the_alert_budget_of_their_own_level():
    members = memberships(AREAS, AREAS["area_id"].to_numpy())
    config = WarningsConfig(red=0.4, orange=0.3, yellow=0.2, blue=0.01, alert_budget=0.34)
    communities = unit_table(GRIDS, members, "community", config, 0.8).set_index("area_id")
    # c1 (0.28) is yellow by threshold; c2 (0.5) red; floor(0.34 x 3) = 1 red or orange
    assert communities["risk_level"].to_dict() == {"c1": "yellow", "c2": "red", "c3": "blue"}


def test_unit_drivers_are_the_largest_summed_contributions():
    contributions = np.array([[0.3, -0.1], [0.2, -0.5], [0.0, 0.1], [1.0, 1.0]])
    values = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    top = unit_drivers(contributions, values, np.array([0, 1, 2]), 2)
    # feature 0 sums to 0.5, feature 1 to -0.5: equal sizes keep feature order
    assert [(j, round(c, 6)) for j, c, _ in top] == [(0, 0.5), (1, -0.5)]
    assert [v for _, _, v in top] == [3.0, 5.0]  # means over the grids that have a value
