"""Planted data faults (opt-in): a source outage and a recoding, to test the data alarms.

Nothing here runs unless ``CityConfig.faults`` names faults, so the default city is unchanged.
A fault changes the exports only, never the ground truth: the events still happened, the
data about them did not arrive (an outage) or arrived under a label the mapping does not know
(a recoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from riskgrid import vocabulary as C

INCIDENT_TIME, INCIDENT_CHANNEL, INCIDENT_GRID = "上报时间", "来源渠道", "网格编码"
INCIDENT_CATEGORY = "事件类别"
PETITION_TIME, PETITION_GRID = "登记日期", "网格"


@dataclass(frozen=True)
class Outage:
    """Records that never reach the export for some weeks, by the time they were reported.

    Args:
        start: first day of the outage.
        weeks: how long it lasts.
        channel: the incident channel that goes silent (a code of ``C.CHANNELS``); None: every
            channel.
        unit: the district, street or community whose records are lost; None: the whole city.
        petitions: whether the petition register of the same area goes silent too.
    """

    start: date
    weeks: int
    channel: str | None = None
    unit: str | None = None
    petitions: bool = False


@dataclass(frozen=True)
class Recoding:
    """From ``start`` on, the incident export writes ``category`` (a code of ``C.CATEGORIES``)
    under a new ``label``, which the mapping file does not know."""

    category: str
    label: str
    start: date


def planted_faults(end: date, n_districts: int, streets_per_district: int
                   ) -> tuple[Outage | Recoding, ...]:
    """The faults of ``riskgrid synth --faults``, placed before the city's last day ``end``:
    the second district's 12345 hotline silent for 6 weeks from 40 weeks before the end; every
    source of the first district's second street silent for 4 weeks from 28 weeks before; and
    neighbour disputes (邻里纠纷) exported as 邻里矛盾 from 16 weeks before the end on."""
    monday = end - timedelta(days=end.weekday())
    district = f"D{min(2, n_districts):02d}"
    street = f"D01S{min(2, streets_per_district):02d}"
    return (Outage(monday - timedelta(weeks=40), 6, channel="hotline_12345", unit=district),
            Outage(monday - timedelta(weeks=28), 4, unit=street, petitions=True),
            Recoding("dispute.neighbour", "邻里矛盾", monday - timedelta(weeks=16)))


def plant(incidents: pd.DataFrame, petitions: pd.DataFrame, areas: pd.DataFrame,
          faults: tuple[Outage | Recoding, ...]) -> tuple[pd.DataFrame, pd.DataFrame,
                                                           pd.DataFrame]:
    """The exports with the faults planted, and the list of faults (truth/faults.csv)."""
    listed = []
    for fault in faults:
        if isinstance(fault, Outage):
            incidents, petitions, row = _outage(incidents, petitions, areas, fault)
        elif isinstance(fault, Recoding):
            incidents, row = _recoding(incidents, fault)
        else:
            raise TypeError(f"not a fault: {fault!r}")
        listed.append(row)
    return incidents, petitions, pd.DataFrame(listed)


def _grids_of(areas: pd.DataFrame, unit: str | None) -> set[str]:
    if unit is None:
        return set(areas[C.AREA_ID])
    found = set()
    for level in ("district", "street", "community"):
        found |= set(areas.loc[areas[C.LEVEL_ID[level]] == unit, C.AREA_ID])
    if not found:
        raise ValueError(f"outage unit {unit!r} is not a district, street or community id")
    return found


def _window(text: pd.Series, start: date, weeks: int) -> pd.Series:
    when = pd.to_datetime(text, errors="coerce", format="mixed")
    first = pd.Timestamp(start)
    return (when >= first) & (when < first + pd.Timedelta(weeks=weeks))


def _outage(incidents: pd.DataFrame, petitions: pd.DataFrame, areas: pd.DataFrame,
            fault: Outage) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    grids = _grids_of(areas, fault.unit)
    lost = _window(incidents[INCIDENT_TIME], fault.start, fault.weeks) \
        & incidents[INCIDENT_GRID].isin(grids)
    if fault.channel is not None:
        if fault.channel not in C.CHANNELS:
            raise ValueError(f"outage channel {fault.channel!r} is not one of {list(C.CHANNELS)}")
        lost &= incidents[INCIDENT_CHANNEL] == C.CHANNELS[fault.channel]
    gone = pd.Series(False, index=petitions.index)
    if fault.petitions:
        gone = _window(petitions[PETITION_TIME], fault.start, fault.weeks) \
            & petitions[PETITION_GRID].isin(grids)
    end = fault.start + timedelta(weeks=fault.weeks) - timedelta(days=1)
    row = {"fault": "outage", "channel": fault.channel or "", "unit": fault.unit or C.CITY,
           "petitions": fault.petitions, "category": "", "label": "",
           "start": fault.start.isoformat(), "end": end.isoformat(),
           "incidents": int(lost.sum()), "petition_rows": int(gone.sum())}
    return (incidents[~lost].reset_index(drop=True), petitions[~gone].reset_index(drop=True),
            row)


def _recoding(incidents: pd.DataFrame, fault: Recoding) -> tuple[pd.DataFrame, dict]:
    family, _, sub = fault.category.partition(".")
    old = C.SUB_CATEGORIES.get(family, {}).get(sub)
    if old is None:
        raise ValueError(f"recoded category {fault.category!r} is not one of C.CATEGORIES")
    labels = incidents[INCIDENT_CATEGORY]
    # the export may label categories "大类/小类" (registers._category_labels)
    renamed = labels.isin([old, f"{C.FAMILIES[family][1]}/{old}"]) & (
        pd.to_datetime(incidents[INCIDENT_TIME], errors="coerce", format="mixed")
        >= pd.Timestamp(fault.start))
    out = incidents.copy()
    out.loc[renamed, INCIDENT_CATEGORY] = fault.label
    row = {"fault": "recoding", "channel": "", "unit": C.CITY, "petitions": False,
           "category": fault.category, "label": fault.label, "start": fault.start.isoformat(),
           "end": "", "incidents": int(renamed.sum()), "petition_rows": 0}
    return out, row
