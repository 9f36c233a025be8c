"""Counts at every level of the hierarchy: grid, community, street, district and city."""

from __future__ import annotations

import pandas as pd

from features.panel import OUTCOME_PREFIX
from riskgrid import vocabulary as C


def level_counts(panel: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Final counts of every stream by level, unit and period (grid counts add up exactly).

    Returns:
        Columns level, unit_id, unit_name, period and one column per stream.
    """
    outcomes = [c for c in panel.columns if c.startswith(OUTCOME_PREFIX)]
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
    counts = pd.concat(frames, ignore_index=True)
    return counts.rename(columns={c: c[len(OUTCOME_PREFIX):] for c in outcomes})
