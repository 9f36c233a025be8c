"""Space-time intensities: decayed rates, neighbour rings, kernels, near repeats, parents."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.counts import Stream
from features.intensity import (
    decay_features,
    intensity_features,
    kernel,
    ring_matrices,
)
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig

# A line of five areas a - b - c - d - e, and an island f; two communities.
LINE = pd.DataFrame({
    C.AREA_ID: list("abcdef"), C.NEIGHBOURS: ["b", "a;c", "b;d", "c;e", "d", ""],
    C.COMMUNITY_ID: list("xxxyyy"), C.STREET_ID: ["s"] * 6, C.DISTRICT_ID: ["t"] * 6})
CONFIG = FeaturesConfig(period="week", horizons=[1], windows=[4, 13])


def test_rings_hold_the_areas_exactly_one_and_two_steps_away():
    one, two = ring_matrices(LINE)
    assert one.toarray()[2].tolist() == [0, 1, 0, 1, 0, 0]
    assert two.toarray()[2].tolist() == [1, 0, 0, 0, 1, 0]
    assert two.toarray()[0].tolist() == [0, 0, 1, 0, 0, 0]
    assert one.toarray()[5].sum() == two.toarray()[5].sum() == 0


def test_a_kernel_is_a_weighted_mean_that_widens_with_the_bandwidth():
    rings = ring_matrices(LINE)
    spike = np.array([[0.0], [0.0], [6.0], [0.0], [0.0], [3.0]])
    narrow, wide = (kernel(rings, b) @ spike for b in (1.0, 2.0))
    assert np.allclose(kernel(rings, 1.0).sum(axis=1), 1)
    assert narrow[2, 0] > wide[2, 0] > 0 and 0 < narrow[0, 0] < wide[0, 0]
    assert narrow[5, 0] == wide[5, 0] == 3.0  # an island keeps its own rate


def test_decays_are_point_in_time_and_long_windows_are_added():
    final = np.zeros((1, 10))
    final[0, 3] = 8.0
    # Occurred in period 3, reported in period 6: unknown before 6.
    late = Stream(final=final, late_area=np.array([0]), late_occurred=np.array([3]),
                  late_reported=np.array([6]), late_value=np.array([8.0]))
    values, specs = decay_features({"all": late}, CONFIG)
    assert {s.name for s in specs} >= {"all_decay_1", "all_decay_13", "all_sum_26", "all_sum_52"}
    assert "all_decay_4" not in values  # the panel's own EWMA has that half-life
    assert np.all(values["all_decay_1"][0, :6] == 0) and values["all_decay_1"][0, 6] > 0
    assert values["all_decay_1"][0, 6] > values["all_decay_13"][0, 6]
    assert values["all_sum_52"][0].tolist() == [0] * 6 + [8.0] * 4


def test_near_repeats_and_level_shifts_follow_the_events_around_an_area():
    n = 8
    now = np.zeros((6, n))
    now[1, 7] = 5.0  # a burst in b in the last period
    values = {"all_now": now, "all_mean_all": np.full((6, n), 0.5),
              "all_ewm": np.full((6, n), 0.5), "all_decay_1": now * 0.5}
    out, specs = intensity_features(values, LINE, CONFIG)
    assert {s.name for s in specs} == set(out)
    ring = out["all_ring1_now"][:, 7]
    assert ring.tolist() == [5.0, 0.0, 5.0, 0.0, 0.0, 0.0]
    surge = out["all_block_surge"][:, 7]
    assert surge[0] > surge[1] == surge[2] > 1 > surge[3]
    shift = out["community_all_decay_1_vs_long_run"]
    assert shift[0, 7] > 1 > shift[3, 7] and shift[0, 6] < 1
    assert np.allclose(out["community_all_mean_all"], 0.5)
    assert "street_all_mean_all" not in out  # one street: nothing above the city's own
