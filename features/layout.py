"""The panel's layout: which areas are its rows and which periods its columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskgrid.calendar import period_end, period_index, period_index_ns, period_range, period_start
from riskgrid.errors import InputError


@dataclass(frozen=True)
class Layout:
    """Areas x periods. Period ``t`` covers [periods[t], cutoff(t)); features for ``t`` use only
    what was reported before cutoff(t)."""

    area_ids: np.ndarray
    periods: pd.DatetimeIndex
    period: str

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.area_ids), len(self.periods)

    def rows(self, area_ids: pd.Series) -> np.ndarray:
        """Row of each area id in this layout (-1 for areas it does not hold)."""
        codes, uniques = pd.factorize(area_ids, use_na_sentinel=True)
        position = pd.Index(self.area_ids).get_indexer(np.asarray(uniques, dtype=object))
        return np.append(position, -1)[codes].astype(np.int64)

    def index(self, times: pd.Series) -> np.ndarray:
        """Period index of each timestamp (may fall outside 0..n-1)."""
        return period_index(times, self.periods[0], self.period)

    def index_ns(self, nanoseconds: np.ndarray) -> np.ndarray:
        """:meth:`index` of int64 nanoseconds since the epoch."""
        return period_index_ns(nanoseconds, self.periods[0], self.period)

    def cutoffs(self) -> pd.DatetimeIndex:
        return period_end(self.periods, self.period)

    def long_index(self) -> pd.MultiIndex:
        """(area_id, period) of every cell, area-major: the row order of the panel."""
        return pd.MultiIndex.from_product([self.area_ids, self.periods],
                                          names=["area_id", "period"])


def complete_periods(first: pd.Timestamp, last: pd.Timestamp, period: str,
                     start: str | None = None, end: str | None = None) -> pd.DatetimeIndex:
    """Complete periods from the first data to the last (or the configured range).

    The period holding ``first`` counts only if ``first`` is its first day, and the one holding
    ``last`` only if ``last`` falls on its final day.
    """
    if start:
        begin = pd.Timestamp(start)
    else:
        begin = period_start(pd.DatetimeIndex([first]), period).iloc[0]
        if begin < first.normalize():  # the first period is partial
            begin = period_end(pd.DatetimeIndex([begin]), period)[0]
    if end:
        stop = pd.Timestamp(end)
    else:
        final = period_start(pd.DatetimeIndex([last]), period).iloc[0]
        if period_end(pd.DatetimeIndex([final]), period)[0] > last.normalize() + pd.Timedelta(days=1):
            final = final - pd.Timedelta(days=1)
        stop = final
    periods = period_range(begin, stop, period) if stop >= begin else pd.DatetimeIndex([])
    if len(periods) == 0:
        raise InputError(f"the records span {first.date()} to {last.date()}, less than one "
                         f"complete {period}; ingest more data or set [features] start and end "
                         "in the experiment file")
    return periods
