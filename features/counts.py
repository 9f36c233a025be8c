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
partition per set of areas on a cluster). Every ``known_*`` function also takes ``first``: the
values of the periods ``first..n-1`` only (what a daily update writes again). Each of those
values is computed by the same operations in the same order as in the whole array (the running
sums and filters still run over every period), so it is the same to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
    whole: bool = False  # counts of whole numbers: their sums are exact in any order

    @property
    def shape(self) -> tuple[int, int]:
        return self.final.shape

    def pending_after(self, first: int) -> Stream:
        """The stream for the periods from ``first`` on: a late event reported by ``first`` is
        known at every one of them, so only the later ones are kept as late (when their values
        are whole numbers, whose sums are exact in any order; else the stream as it is)."""
        if not first or not _whole(self.late_value):
            return self
        keep = self.late_reported > first
        return Stream(final=self.final, late_area=self.late_area[keep],
                      late_occurred=self.late_occurred[keep],
                      late_reported=self.late_reported[keep], late_value=self.late_value[keep],
                      whole=self.whole)

    @classmethod
    def known_when_occurred(cls, final: np.ndarray) -> Stream:
        """A stream whose events are all known in the period they occur (no late reports)."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(final=final, late_area=empty, late_occurred=empty, late_reported=empty,
                   late_value=np.zeros(0))


def stream(area: np.ndarray, occurred: np.ndarray, reported: np.ndarray, shape: tuple[int, int],
           value: np.ndarray | None = None) -> Stream:
    """Aggregate events (area row, occurrence period, report period) into a :class:`Stream`.

    Events outside the panel's areas or periods (area row -1) are left out.
    """
    return streams(area, occurred, reported, shape, value=value)[0]


def streams(area: np.ndarray, occurred: np.ndarray, reported: np.ndarray, shape: tuple[int, int],
            code: np.ndarray | None = None, n_codes: int = 1,
            value: np.ndarray | None = None) -> list[Stream]:
    """One :class:`Stream` per event code (e.g. incident family) in a single pass.

    Late events are merged into unique (code, area, p_o, p_r) cells with summed values, so the
    point-in-time corrections cost in proportion to distinct cells, not to events.
    """
    n_areas, n_periods = shape
    inside = (area >= 0) & (occurred >= 0) & (occurred < n_periods)
    if code is not None:
        inside &= code >= 0
    cell = area.astype(np.int64) * n_periods + occurred
    if code is not None:
        cell += code.astype(np.int64) * (n_areas * n_periods)
    size = n_codes * n_areas * n_periods
    weights = None if value is None else value[inside].astype(np.float64)
    final = np.bincount(cell[inside], weights=weights, minlength=size).astype(np.float64)
    late = inside & (reported > occurred)
    key = cell[late] * (n_periods + 1) + np.minimum(reported[late], n_periods)
    unique, inverse = np.unique(key, return_inverse=True)
    late_value = np.bincount(inverse, weights=None if value is None else value[late],
                             minlength=len(unique)).astype(np.float64)
    whole = value is None or _whole(value[inside])
    late_reported, late_cell = unique % (n_periods + 1), unique // (n_periods + 1)
    late_code, rest = np.divmod(late_cell, n_areas * n_periods)
    late_area, late_occurred = np.divmod(rest, n_periods)
    out = []
    for c in range(n_codes):
        m = late_code == c
        out.append(Stream(final=final[c * n_areas * n_periods:(c + 1) * n_areas * n_periods]
                          .reshape(shape), late_area=late_area[m],
                          late_occurred=late_occurred[m], late_reported=late_reported[m],
                          late_value=late_value[m], whole=whole))
    return out


def combine(parts: list[Stream]) -> Stream:
    """The stream of all events of several streams on the same layout."""
    return Stream(final=np.sum([p.final for p in parts], axis=0),
                  late_area=np.concatenate([p.late_area for p in parts]),
                  late_occurred=np.concatenate([p.late_occurred for p in parts]),
                  late_reported=np.concatenate([p.late_reported for p in parts]),
                  late_value=np.concatenate([p.late_value for p in parts]),
                  whole=all(p.whole for p in parts))


def known_sum(s: Stream, weights: np.ndarray, running: np.ndarray | None = None,
              first: int = 0) -> np.ndarray:
    """Point-in-time weighted sum: ``sum_k weights[k] * known count of period t - k`` for the
    periods t from ``first`` (``running``: the stream's :func:`running_sums`, when the caller
    has them)."""
    weights = np.asarray(weights, dtype=np.float64)
    lags = np.flatnonzero(weights)
    if len(lags) and np.all(weights[lags] == weights[lags[0]]) and \
            lags[-1] - lags[0] + 1 == len(lags):
        return weights[lags[0]] * known_window(s, len(lags), start_lag=int(lags[0]),
                                               running=running, first=first)
    n_areas, n_periods = s.shape
    out = np.zeros((n_areas, n_periods - first), dtype=np.float64)
    for k in lags[lags < n_periods]:
        lo = max(first, int(k))
        out[:, lo - first:] += weights[k] * s.final[:, lo - k: n_periods - k]
    if len(s.late_area):
        # An event of period p_o reported in p_r is missing from origins t = p_o + k < p_r.
        delay = s.late_reported - s.late_occurred
        cells, amounts = [], []
        for k in lags:
            hit = (delay > k) & (s.late_occurred + k < n_periods) & (s.late_occurred + k >= first)
            cells.append(s.late_area[hit] * (n_periods - first) + s.late_occurred[hit] + k - first)
            amounts.append(weights[k] * s.late_value[hit])
        correction = np.bincount(np.concatenate(cells), weights=np.concatenate(amounts),
                                 minlength=out.size)
        out -= correction.reshape(out.shape)
    return out


def running_sums(s: Stream, first: int = 0, reach: int | None = None) -> np.ndarray:
    """The final counts summed up to each period, after a leading column of zeros.

    With ``reach``, only the sums a window of at most ``reach`` periods ending at ``first`` or
    later reads are right (the earlier ones are left zero): for whole counts, the sum up to
    ``first - reach`` is one total, the same as the running sum gives.
    """
    n_areas, n_periods = s.shape
    running = np.zeros((n_areas, n_periods + 1))
    start = first - reach if s.whole and reach is not None else 0
    if start <= 0:
        np.cumsum(s.final, axis=1, out=running[:, 1:])
        return running
    running[:, start] = s.final[:, :start].sum(axis=1)
    np.cumsum(s.final[:, start:], axis=1, out=running[:, start + 1:])
    running[:, start + 1:] += running[:, start, None]
    return running


def known_window(s: Stream, length: int, start_lag: int = 0,
                 running: np.ndarray | None = None, first: int = 0) -> np.ndarray:
    """Point-in-time sum over the ``length`` periods ending ``start_lag`` periods before t, for
    the periods t from ``first`` (``running``: the stream's :func:`running_sums`, computed here
    when not given)."""
    n_periods = s.shape[1]
    if running is None:
        running = running_sums(s, first, start_lag + length)
    out = _running_at(running, 1 - start_lag, n_periods, first)  # the sum up to t - start_lag
    out -= _running_at(running, 1 - start_lag - length, n_periods, first)  # less the sum before
    late = s.late_reported - s.late_occurred > start_lag  # only these are missing at t
    if late.any():
        # Events of periods t-start_lag-length+1 .. t-start_lag reported after t.
        occurred = s.late_occurred[late]
        end = np.minimum(occurred + start_lag + length, s.late_reported[late])
        out -= intervals(s.late_area[late], occurred + start_lag, end, s.shape,
                         s.late_value[late], first)
    return out


def _running_at(running: np.ndarray, offset: int, n_periods: int, first: int = 0) -> np.ndarray:
    """``running[:, max(t + offset, 0)]`` for the periods t from ``first`` (``offset <= 1``), by
    slicing: the running sums start at zero, so positions before the first are zero."""
    out = np.zeros((running.shape[0], n_periods - first))
    begin = max(-offset, first)
    if begin < n_periods:
        out[:, begin - first:] = running[:, begin + offset: n_periods + offset]
    return out


def known_total(s: Stream, first: int = 0) -> np.ndarray:
    """Point-in-time sum over all periods up to and including t (an expanding window), for the
    periods t from ``first``."""
    if s.whole and first:  # whole counts: the total before ``first``, then running on
        total = np.cumsum(s.final[:, first:], axis=1)
        total += s.final[:, :first].sum(axis=1)[:, None]
    else:
        total = np.cumsum(s.final, axis=1)[:, first:]
    if len(s.late_area):
        # Events with p_o <= t < p_r are not yet known at t.
        total -= intervals(s.late_area, s.late_occurred, s.late_reported, s.shape, s.late_value,
                           first)
    return total


def intervals(area: np.ndarray, start: np.ndarray, stop: np.ndarray, shape: tuple[int, int],
              value: np.ndarray | None = None, first: int = 0) -> np.ndarray:
    """How many items are active in each period from ``first``: each item counts for
    ``start <= t < stop``."""
    n_areas, n_periods = shape
    if (area < 0).any():
        keep = area >= 0
        area, start, stop = area[keep], start[keep], stop[keep]
        value = None if value is None else value[keep]
    if first and _whole(value):
        # Sums of whole numbers are exact in any order: the items active from ``first`` on,
        # counted on those periods alone.
        keep = stop > first
        area, start, stop = area[keep], start[keep] - first, stop[keep] - first
        value = None if value is None else value[keep]
        n_periods, first = n_periods - first, 0
    start = np.clip(start, 0, n_periods)
    # An item that is never active adds and removes itself in the same cell.
    stop = np.maximum(np.minimum(stop, n_periods), start)
    base = area * (n_periods + 1)
    size = n_areas * (n_periods + 1)
    diff = np.bincount(base + start, weights=value, minlength=size)
    diff -= np.bincount(base + stop, weights=value, minlength=size)
    return np.cumsum(diff.reshape(n_areas, n_periods + 1)[:, :n_periods], axis=1)[:, first:]


def _whole(value: np.ndarray | None) -> bool:
    """Whether every value is a whole number small enough that float sums of them are exact."""
    if value is None:
        return True
    return bool(np.all(np.isfinite(value)) and np.all(value == np.round(value))
                and np.abs(value).sum() < 2.0 ** 52)


def known_ewm(s: Stream, halflife: float, first: int = 0, before: np.ndarray | None = None,
              ends: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Point-in-time exponentially weighted mean: weights ``a * (1 - a) ** k`` over lags ``k``,
    for the periods from ``first``.

    Args:
        before: the filter's value at period ``first - 1`` (per area, before the late
            corrections; a value ``ends`` gave earlier): the filter then runs from ``first``
            on, carrying on exactly where it was. Without it, it runs over every period.
        ends: periods (from ``first`` on) whose filter values are returned too, as
            ``(mean, values at ends)``.
    """
    alpha = 1 - 0.5 ** (1 / halflife)
    from scipy.signal import lfilter  # imported here: scipy.signal takes seconds to load

    a = [1, -(1 - alpha)]
    if before is None or not first:
        out = lfilter([alpha], a, s.final, axis=1)[:, first:]
    else:
        # The filter's delay after period first-1, as it computes it (x * 0 - y * a[1]).
        carry = (0.0 - np.asarray(before, dtype=np.float64) * a[1])[:, None]
        out, _ = lfilter([alpha], a, s.final[:, first:], axis=1, zi=carry)
    kept = None if ends is None else out[:, np.asarray(ends, dtype=np.int64) - first]
    if len(s.late_area):
        n_periods = s.shape[1]
        delay = s.late_reported - s.late_occurred
        cells, amounts = [], []
        for k in range(min(int(delay.max()), n_periods)):
            at = s.late_occurred + k
            hit = (delay > k) & (at < n_periods) & (at >= first)
            cells.append(s.late_area[hit] * (n_periods - first) + at[hit] - first)
            amounts.append(alpha * (1 - alpha) ** k * s.late_value[hit])
        out -= np.bincount(np.concatenate(cells), weights=np.concatenate(amounts),
                           minlength=out.size).reshape(out.shape)
    return out if ends is None else (out, kept)


CARRIED = "carried:"  # a value's key prefix: filter values kept for the next run, not features


@dataclass(frozen=True)
class Carry:
    """Where the exponential filters carry on from in a run that starts at period ``first``.

    Attributes:
        area_ids: the areas ``before``'s rows are.
        before: each filter's value (by feature name) at period ``first - 1``, per area; a
            filter without one runs over every period.
        step: periods per block; the filters' values at the last period of every complete
            block from ``first`` on are kept (``CARRIED + name``) for the next run.
    """

    area_ids: np.ndarray
    before: dict[str, np.ndarray]
    step: int

    def ends(self, first: int, n_periods: int) -> np.ndarray:
        return np.arange(first + self.step - 1, n_periods, self.step)

    def rows(self, area_ids: np.ndarray) -> Carry:
        """The same for the areas ``area_ids`` (one block of areas)."""
        if len(area_ids) == len(self.area_ids) and np.array_equal(area_ids, self.area_ids):
            return self
        at = pd.Index(self.area_ids).get_indexer(area_ids)
        return Carry(area_ids=np.asarray(area_ids), before={k: v[at] for k, v in
                                                            self.before.items()},
                     step=self.step)


def carried_ewm(values: dict[str, np.ndarray], name: str, s: Stream, halflife: float,
                first: int, carry: Carry | None) -> np.ndarray:
    """:func:`known_ewm` of the feature ``name``, from ``carry`` when given (its values at the
    blocks' ends put in ``values`` under ``CARRIED + name``)."""
    if carry is None:
        return known_ewm(s, halflife, first)
    out, kept = known_ewm(s, halflife, first, carry.before.get(name),
                          carry.ends(first, s.shape[1]))
    values[CARRIED + name] = kept
    return out


def periods_since(events: np.ndarray, cap: int, first: int = 0) -> np.ndarray:
    """Periods since the last period with a positive value (``cap`` if none within ``cap``),
    for the periods from ``first``.

    ``events`` must hold counts known at their own period (e.g. petitions, known when filed).
    """
    n_periods = events.shape[1]
    idx = np.where(events > 0, np.arange(n_periods)[None, :], -1)
    last = np.maximum.accumulate(idx, axis=1)
    since = np.arange(n_periods)[None, :] - last
    return np.where(last < 0, cap, np.minimum(since, cap)).astype(np.float64)[:, first:]
