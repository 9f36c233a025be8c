"""Counts of events by area and period, and point-in-time windowed sums of them.

An event occurs in period ``p_o`` and becomes known in period ``p_r >= p_o`` (its report).
At the cutoff of period ``t`` (the end of ``t``) only events with ``p_r <= t`` are known, so a
feature for ``t`` must never count an event reported later, even if it occurred earlier. Every
count feature here is a weighted sum over the lags ``k`` of the counts of period ``t - k``:

    known(t) = sum_k w_k * #{events: p_o = t - k, p_r <= t}
             = sum_k w_k * final(t - k)  -  sum_k w_k * #{events: p_o = t - k, p_r > t}

The first term is a convolution of the dense final counts; the second, the correction for
events still unreported at ``t``, is added event by event for the few events reported late.
Areas are independent of each other, so any subset of areas can be computed on its own (one
partition per set of areas on a cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stream:
    """Events of one kind on an (areas x periods) grid.

    Attributes:
        final: dense counts (or sums of a value) by occurrence period, as eventually known.
        late_area, late_occurred, late_reported, late_value: the events reported in a later
            period than they occurred (area row, p_o, p_r, value), for the point-in-time
            correction.
    """

    final: np.ndarray
    late_area: np.ndarray
    late_occurred: np.ndarray
    late_reported: np.ndarray
    late_value: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.final.shape


def stream(area: np.ndarray, occurred: np.ndarray, reported: np.ndarray, shape: tuple[int, int],
           value: np.ndarray | None = None) -> Stream:
    """Aggregate events (area row, occurrence period, report period) into a :class:`Stream`.

    Events outside the panel's areas or periods (area row -1) are left out.
    """
    n_areas, n_periods = shape
    value = np.ones(len(area), dtype=np.float64) if value is None else value.astype(np.float64)
    inside = (area >= 0) & (occurred >= 0) & (occurred < n_periods)
    flat = area[inside] * n_periods + occurred[inside]
    final = np.bincount(flat, weights=value[inside], minlength=n_areas * n_periods)
    late = inside & (reported > occurred)
    return Stream(final=final.reshape(shape), late_area=area[late],
                  late_occurred=occurred[late], late_reported=reported[late],
                  late_value=value[late])


def known_sum(s: Stream, weights: np.ndarray) -> np.ndarray:
    """Point-in-time weighted sum: ``sum_k weights[k] * known count of period t - k`` for all t."""
    weights = np.asarray(weights, dtype=np.float64)
    out = np.zeros(s.shape, dtype=np.float64)
    n_periods = s.shape[1]
    for k in np.flatnonzero(weights):
        if k < n_periods:
            out[:, k:] += weights[k] * s.final[:, : n_periods - k]
    if len(s.late_area):
        # An event of period p_o reported in p_r is missing from origins t = p_o + k < p_r.
        delay = s.late_reported - s.late_occurred
        for k in np.flatnonzero(weights):
            hit = delay > k
            t = s.late_occurred[hit] + k
            keep = t < n_periods
            np.add.at(out, (s.late_area[hit][keep], t[keep]), -weights[k] * s.late_value[hit][keep])
    return out


def known_window(s: Stream, length: int, start_lag: int = 0) -> np.ndarray:
    """Point-in-time sum over the ``length`` periods ending ``start_lag`` periods before t."""
    weights = np.zeros(start_lag + length)
    weights[start_lag:] = 1.0
    return known_sum(s, weights)


def known_total(s: Stream) -> np.ndarray:
    """Point-in-time sum over all periods up to and including t (an expanding window)."""
    total = np.cumsum(s.final, axis=1)
    if len(s.late_area):
        # Events with p_o <= t < p_r are not yet known at t.
        in_flight = intervals(s.late_area, s.late_occurred, s.late_reported, s.shape,
                              s.late_value)
        total = total - in_flight
    return total


def intervals(area: np.ndarray, start: np.ndarray, stop: np.ndarray, shape: tuple[int, int],
              value: np.ndarray | None = None) -> np.ndarray:
    """How many items are active in each period: each item counts for ``start <= t < stop``."""
    n_areas, n_periods = shape
    value = np.ones(len(area)) if value is None else value
    start = np.clip(start, 0, n_periods)
    stop = np.clip(stop, 0, n_periods)
    keep = (stop > start) & (area >= 0)
    diff = np.zeros((n_areas, n_periods + 1), dtype=np.float64)
    np.add.at(diff, (area[keep], start[keep]), value[keep])
    np.add.at(diff, (area[keep], stop[keep]), -value[keep])
    return np.cumsum(diff[:, :n_periods], axis=1)


def ewm_weights(halflife: float, horizon: int) -> np.ndarray:
    """Normalized exponential weights over ``horizon`` lags."""
    weights = 0.5 ** (np.arange(horizon) / halflife)
    return weights / weights.sum()


def periods_since(events: np.ndarray, cap: int) -> np.ndarray:
    """Periods since the last period with a positive value (``cap`` if none within ``cap``).

    ``events`` must hold counts known at their own period (e.g. petitions, known when filed).
    """
    n_areas, n_periods = events.shape
    idx = np.where(events > 0, np.arange(n_periods)[None, :], -1)
    last = np.maximum.accumulate(idx, axis=1)
    since = np.arange(n_periods)[None, :] - last
    return np.where(last < 0, cap, np.minimum(since, cap)).astype(np.float64)
