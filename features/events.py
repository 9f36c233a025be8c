"""Incidents placed on the panel's layout once: area rows and period indices as integer arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.layout import Layout
from riskgrid import vocabulary as C

GROUP_MIN_PEOPLE = 5
NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class IncidentIndex:
    """Per incident: area row, periods of occurrence, report, closing and deadline, and values.

    ``family`` holds the position of the incident's family in ``families``: the built-in
    ``columns.FAMILIES`` first, then families a mapping declared. ``handled`` is False for
    incidents of sources without a handling record.
    """

    area: np.ndarray
    occurred: np.ndarray
    reported: np.ndarray
    closed: np.ndarray
    due: np.ndarray
    family: np.ndarray
    group: np.ndarray
    days_to_close: np.ndarray
    satisfaction: np.ndarray
    handled: np.ndarray
    families: tuple[str, ...] = tuple(C.FAMILIES)

    def for_areas(self, lo: int, hi: int) -> IncidentIndex:
        """The incidents of area rows lo..hi-1, with rows renumbered from 0."""
        keep = (self.area >= lo) & (self.area < hi)
        fields = {name: getattr(self, name)[keep] for name in self.__dataclass_fields__
                  if name != "families"}
        fields["area"] = fields["area"] - lo
        fields["families"] = self.families
        return IncidentIndex(**fields)


def _ns(series: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (NaT as the int64 minimum), without a copy where possible."""
    if series.dtype == "datetime64[ns]":
        return series.to_numpy().view(np.int64)
    return np.asarray(pd.DatetimeIndex(series).as_unit("ns").asi8)


def _codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Position of each value in ``categories`` (-1 if absent): factorize, then map uniques."""
    codes, uniques = pd.factorize(values)
    lookup = np.array([categories.index(u) if u in categories else -1 for u in uniques] + [-1])
    return lookup[codes].astype(np.int8)


def index_incidents(incidents: pd.DataFrame, layout: Layout, deadline_days: float,
                    families: tuple[str, ...] | None = None) -> IncidentIndex:
    """Place every incident on ``layout``. A report cannot precede the occurrence.

    Args:
        families: the city's families (default: those of ``incidents``), so that one block of
            areas gets the same streams as the whole city.
    """
    reported_ns, closed_ns = _ns(incidents[C.REPORTED_AT]), _ns(incidents[C.CLOSED_AT])
    is_closed = closed_ns != np.iinfo(np.int64).min
    occurred = layout.index_ns(_ns(incidents[C.OCCURRED_AT]))
    due_ns = reported_ns + int(deadline_days * NS_PER_DAY)
    days = np.where(is_closed, (closed_ns - reported_ns) / NS_PER_DAY, np.nan)
    families = families or family_list(incidents[C.FAMILY])
    handled = (incidents[C.HANDLED].to_numpy(bool) if C.HANDLED in incidents
               else np.ones(len(incidents), bool))
    return IncidentIndex(
        area=layout.rows(incidents[C.AREA_ID]),
        occurred=occurred,
        reported=np.maximum(layout.index_ns(reported_ns), occurred),
        closed=layout.index_ns(np.where(is_closed, closed_ns, np.iinfo(np.int64).min)),
        due=layout.index_ns(due_ns),
        family=_codes(incidents[C.FAMILY], list(families)),
        group=incidents[C.PEOPLE_INVOLVED].to_numpy() >= GROUP_MIN_PEOPLE,
        days_to_close=days,
        satisfaction=incidents[C.SATISFACTION].to_numpy(dtype=float, na_value=np.nan),
        handled=handled,
        families=families,
    )


def family_list(family: pd.Series) -> tuple[str, ...]:
    """The built-in families, then any other family of the data (declared in a mapping)."""
    extra = sorted(set(family.dropna().unique()) - set(C.FAMILIES))
    return (*C.FAMILIES, *extra)
