"""Counts at every level of the hierarchy: grid, community, street, district and city."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.panel import OUTCOME_PREFIX
from riskgrid import vocabulary as C

EXACT = 2.0 ** 24  # float32 holds every whole number below this: its sums of counts are exact


def level_counts(panel: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Final counts of every stream by level, unit and period (grid counts add up exactly).

    Returns:
        Columns level, unit_id, unit_name, period and one column per stream.
    """
    outcomes = [c for c in panel.columns if c.startswith(OUTCOME_PREFIX)]
    counts = _summed(panel, areas, outcomes)
    if counts is None:
        counts = _grouped(panel, areas, outcomes)
    return counts.rename(columns={c: c[len(OUTCOME_PREFIX):] for c in outcomes})


def _summed(panel: pd.DataFrame, areas: pd.DataFrame, outcomes: list[str]
            ) -> pd.DataFrame | None:
    """:func:`_grouped`'s frame by sums of whole counts (exact in any order), one pass per
    level; None when some count is not a whole number, or a unit or area is missing."""
    values = np.nan_to_num(panel[outcomes].to_numpy(dtype=np.float64), nan=0.0)
    row = pd.Index(areas[C.AREA_ID]).get_indexer(panel[C.AREA_ID])
    keys = [areas[C.LEVEL_ID[lv]] for lv in C.LEVELS[:-1]] + \
        [areas[C.LEVEL_NAME[lv]] for lv in C.LEVELS[:-1]]
    if (row < 0).any() or any(k.isna().any() for k in keys) or \
            not np.array_equal(values, np.round(values)) or np.abs(values).sum() >= EXACT:
        return None
    periods, period_code = np.unique(panel[C.PERIOD].to_numpy(), return_inverse=True)
    frames = []
    for level in C.LEVELS:
        if level == "city":
            unit_ids = pd.Series([C.CITY] * len(areas), dtype=areas[C.AREA_ID].dtype)
            unit_names = pd.Series([C.CITY] * len(areas), dtype=areas[C.AREA_NAME].dtype)
        else:
            unit_ids, unit_names = areas[C.LEVEL_ID[level]], areas[C.LEVEL_NAME[level]]
        # Units numbered in the order of (id, name), as a sorted groupby gives them.
        by_id, _ = pd.factorize(unit_ids, sort=True)
        by_name, names = pd.factorize(unit_names, sort=True)
        pairs, units = np.unique(by_id.astype(np.int64) * len(names) + by_name,
                                 return_inverse=True)
        first = np.empty(len(pairs), np.int64)  # an area of each unit, for its id and name
        first[units[::-1]] = np.arange(len(units))[::-1]
        cell = units[row].astype(np.int64) * len(periods) + period_code
        present, at = np.unique(cell, return_inverse=True)
        unit, when = np.divmod(present, len(periods))
        columns = {"unit_id": unit_ids.take(first[unit]).reset_index(drop=True),
                   "unit_name": unit_names.take(first[unit]).reset_index(drop=True),
                   C.PERIOD: periods[when]}
        columns |= {name: np.bincount(at, weights=values[:, j], minlength=len(present))
                    .astype(np.float32) for j, name in enumerate(outcomes)}
        part = pd.DataFrame(columns)
        part.insert(0, "level", level)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _grouped(panel: pd.DataFrame, areas: pd.DataFrame, outcomes: list[str]) -> pd.DataFrame:
    units = areas[[C.LEVEL_ID[lv] for lv in C.LEVELS[:-1]] + [C.LEVEL_NAME[lv] for lv in
                                                              C.LEVELS[:-1]]]
    base = panel[[C.AREA_ID, C.PERIOD] + outcomes].merge(units, on=C.AREA_ID, how="left")
    base["city_id"], base["city_name"] = C.CITY, C.CITY
    frames = []
    for level in C.LEVELS:
        id_col, name_col = C.LEVEL_ID[level], C.LEVEL_NAME[level]
        grouped = base.groupby([id_col, name_col, C.PERIOD], observed=True, sort=True)[outcomes]
        part = grouped.sum().reset_index().rename(columns={id_col: "unit_id",
                                                           name_col: "unit_name"})
        part.insert(0, "level", level)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)
