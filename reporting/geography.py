"""Outlines of units and grids from the areas' WKT polygons, for the offline map."""

from __future__ import annotations

import pandas as pd
import shapely

from riskgrid import vocabulary as C


def _polygons(areas: pd.DataFrame) -> pd.Series:
    """Each grid's polygon (None where the geometry is missing or unreadable)."""
    if C.GEOMETRY not in areas.columns:
        return pd.Series(None, index=areas.index, dtype=object)
    text = areas[C.GEOMETRY].astype(object).where(areas[C.GEOMETRY].notna(), None)
    shapes = shapely.from_wkt(text.to_numpy(), on_invalid="ignore")
    return pd.Series(shapes, index=areas.index, dtype=object).where(
        ~shapely.is_empty(shapes) & ~shapely.is_missing(shapes), None)


def outlines(context: pd.DataFrame, level: str, grid_levels: dict[str, str]) -> dict:
    """Unit outlines at ``level`` and the outlines of grids at a warning level, as WKT.

    Args:
        context: areas indexed by grid id, with the id column of ``level``.
        level: district, street or community.
        grid_levels: risk level of each grid ("none" for most).

    Returns:
        ``{"units": {unit_id: wkt}, "grids": {area_id: wkt}}``; both empty when no grid has a
        geometry, so the map falls back to tiles.
    """
    shapes = _polygons(context)
    if shapes.isna().all():
        return {"units": {}, "grids": {}}
    units = {}
    for unit, rows in shapes.groupby(context[C.LEVEL_ID[level]].astype(str), sort=True):
        parts = [s for s in rows if s is not None]
        if parts:
            merged = shapely.union_all(parts, grid_size=None)
            units[unit] = shapely.to_wkt(shapely.make_valid(merged))
    grids = {str(a): shapely.to_wkt(s) for a, s in shapes.items()
             if s is not None and grid_levels.get(str(a), "none") != "none"}
    return {"units": units, "grids": grids}
