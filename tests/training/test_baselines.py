"""The baselines' hotspot maps: the last 52 periods, smoothed by a kernel in cells or rings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskgrid import vocabulary as C
from training.baselines import hotspot_smoothers, kernel_smoother, neighbour_rings, recent_mean


def cells(xs, ys, size=1.0) -> pd.DataFrame:
    return pd.DataFrame({C.AREA_ID: [f"A{i}" for i in range(len(xs))],
                         C.CENTROID_X: np.asarray(xs, float), C.CENTROID_Y: np.asarray(ys, float),
                         C.AREA_KM2: size, C.NEIGHBOURS: ""})


def test_an_area_weighs_itself_once_and_keeps_the_city_total():
    # Two cells one cell apart, bandwidth one cell: own weight 1, the other's exp(-1/2).
    matrix = kernel_smoother(cells([0, 1], [0, 0]), 1.0).toarray()
    own = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(matrix, [[own, 1 - own], [1 - own, own]])
    counts = np.array([3.0, 0.0])
    assert (matrix @ counts).sum() == pytest.approx(3.0)


def test_a_wider_bandwidth_spreads_a_cell_further():
    smoothers = hotspot_smoothers(cells(np.arange(7), np.zeros(7)), [f"A{i}" for i in range(7)])
    assert list(smoothers) == ["kernel_density_0.5", "kernel_density_1", "kernel_density_2"]
    kept = [smoothers[name].toarray()[3, 3] for name in smoothers]
    assert kept[0] > kept[1] > kept[2]
    assert smoothers["kernel_density_0.5"].toarray()[0, 3] == 0  # beyond 3 bandwidths


def test_areas_known_by_neighbours_are_smoothed_over_rings_in_the_panels_order():
    ids = ["A0", "A1", "A2", "A3"]
    areas = pd.DataFrame({C.AREA_ID: ids, C.CENTROID_X: np.nan, C.CENTROID_Y: np.nan,
                          C.AREA_KM2: 1.0, C.NEIGHBOURS: ["A1", "A0;A2", "A1;A3", "A2"]})
    rings = neighbour_rings(np.array(ids), areas[C.NEIGHBOURS], 1.0)
    assert rings[1].toarray()[0].tolist() == [0, 1, 0, 0]
    assert rings[3].toarray()[0].tolist() == [0, 0, 0, 1]
    order = ["A3", "A2", "A1", "A0"]
    matrix = hotspot_smoothers(areas, order)["kernel_density_1"].toarray()
    weights = np.exp(-0.5 * np.arange(4) ** 2)  # from A0 (last): rings 3, 2, 1, 0
    np.testing.assert_allclose(matrix[:, 3], weights[::-1] / weights.sum())


def test_no_location_and_no_neighbours_means_no_kernel_map():
    areas = cells([np.nan, 1], [0, 0])
    assert hotspot_smoothers(areas, ["A0", "A1"]) == {}


def test_the_recent_map_is_the_mean_of_the_last_52_periods_known():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (2, 60)).astype(float)
    elapsed = np.arange(1, 61)
    panel = pd.DataFrame({C.AREA_ID: np.repeat(["A", "B"], 60),
                          C.PERIOD: np.tile(pd.date_range("2024-01-01", periods=60, freq="7D"), 2),
                          "all_mean_all": (np.cumsum(counts, axis=1) / elapsed).ravel()})
    out = recent_mean(panel, "all")
    np.testing.assert_allclose(out[:, 59], counts[:, 8:60].mean(axis=1))
    np.testing.assert_allclose(out[:, 9], counts[:, :10].mean(axis=1))


def test_a_window_without_events_is_zero_not_a_float_residue_below_it():
    # One event in the first period, none after: mean_all * elapsed is 0.7 only up to
    # rounding, so the windows after the first year would come out a hair below zero.
    panel = pd.DataFrame({C.AREA_ID: "A",
                          C.PERIOD: pd.date_range("2024-01-01", periods=199, freq="7D"),
                          "all_mean_all": 0.7 / np.arange(1, 200)})
    out = recent_mean(panel, "all")
    assert (out >= 0).all() and (out[:, 52:] < 1e-12).all()
