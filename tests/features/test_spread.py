"""Spread and parent-unit features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.spread import neighbour_matrix, parent_mean, spatial_features
from riskgrid import vocabulary as C

AREAS = pd.DataFrame({C.AREA_ID: ["a", "b", "c", "d"], C.NEIGHBOURS: ["b", "a;c", "b", None],
                      C.COMMUNITY_ID: ["x", "x", "y", "y"], C.STREET_ID: ["s"] * 4,
                      C.DISTRICT_ID: ["s"] * 4})


def test_neighbour_average_ignores_self_and_isolated_areas():
    values = np.array([[1.0], [10.0], [100.0], [1000.0]])
    assert (neighbour_matrix(AREAS) @ values).ravel().tolist() == [10.0, 50.5, 10.0, 0.0]


def test_parent_mean_is_the_average_over_the_unit():
    values = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    assert parent_mean(AREAS, "community", values).tolist() == [[2, 3], [2, 3], [6, 7], [6, 7]]


def test_levels_that_add_nothing_are_skipped():
    values = {"all_sum_4": np.ones((4, 3)), "all_sum_13": np.ones((4, 3)),
              "dispute_sum_4": np.ones((4, 3)), "collective_sum_13": np.zeros((4, 3)),
              "group_sum_13": np.zeros((4, 3))}
    out, specs = spatial_features(values, AREAS, 4, 13)
    assert "community_all_sum_13" in out and "neighbours_dispute_sum_4" in out
    # street and district are one unit for the whole city here: kept, as they equal the city
    assert {s.name for s in specs} == set(out)
