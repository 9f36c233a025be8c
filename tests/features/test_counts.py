"""Point-in-time windowed sums agree with counting the known events one by one."""

from __future__ import annotations

import numpy as np
import pytest

from features.counts import (
    intervals,
    known_ewm,
    known_sum,
    known_total,
    known_window,
    periods_since,
    stream,
)


def events(seed: int, n: int = 400, shape=(3, 30)):
    rng = np.random.default_rng(seed)
    area = rng.integers(0, shape[0], n)
    occurred = rng.integers(-2, shape[1], n)
    reported = occurred + rng.choice([0, 0, 0, 1, 2, 5, 40], n)
    return area, occurred, reported


def brute(area, occurred, reported, shape, weights):
    out = np.zeros(shape)
    for a, o, r in zip(area, occurred, reported):
        for t in range(shape[1]):
            k = t - o
            if r <= t and 0 <= k < len(weights) and o >= 0:
                out[a, t] += weights[k]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weights", [[1.0], [0, 1.0], [1.0] * 4, [1.0] * 13,
                                     [0.5, 0.3, 0.2], [0] * 10 + [0.5, 0.5]])
def test_known_sum_counts_only_events_reported_by_the_cutoff(seed, weights):
    area, occurred, reported = events(seed)
    s = stream(area, occurred, reported, (3, 30))
    expected = brute(area, occurred, reported, (3, 30), np.asarray(weights))
    np.testing.assert_allclose(known_sum(s, np.asarray(weights)), expected, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 3])
def test_known_ewm_weights_every_known_lag_geometrically(seed):
    area, occurred, reported = events(seed)
    s = stream(area, occurred, reported, (3, 30))
    alpha = 1 - 0.5 ** (1 / 4)
    weights = alpha * (1 - alpha) ** np.arange(60)
    expected = brute(area, occurred, reported, (3, 30), weights)
    np.testing.assert_allclose(known_ewm(s, 4.0), expected, atol=1e-9)


def test_known_total_is_the_expanding_sum_of_known_events():
    area, occurred, reported = events(5)
    s = stream(area, occurred, reported, (3, 30))
    expected = brute(area, occurred, reported, (3, 30), np.ones(100))
    np.testing.assert_allclose(known_total(s), expected)


def test_window_with_start_lag_skips_the_latest_periods():
    s = stream(np.array([0, 0]), np.array([3, 4]), np.array([3, 4]), (1, 8))
    assert known_window(s, 1, start_lag=1).tolist() == [[0, 0, 0, 0, 1, 1, 0, 0]]


def test_intervals_count_items_active_at_each_cutoff():
    active = intervals(np.array([0, 0, 1]), np.array([1, 2, 0]), np.array([3, 99, 1]), (2, 5))
    assert active.tolist() == [[0, 1, 2, 1, 1], [1, 0, 0, 0, 0]]


def test_periods_since_last_event_is_capped():
    values = np.array([[0, 1, 0, 0, 2, 0], [0, 0, 0, 0, 0, 0]], dtype=float)
    assert periods_since(values, cap=3).tolist() == [[3, 0, 1, 2, 0, 1], [3] * 6]
