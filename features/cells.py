"""Square cells over the incident points, without a polygon file: the bounding box or convex
hull of the points, optionally clipped to a boundary, each cell under the table area most of
its points name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from features.geo import cell_ids
from riskgrid import vocabulary as C
from riskgrid.errors import InputError

PARENT_LEVELS = ("street", "district")


def cell_grid(x: np.ndarray, y: np.ndarray, size: float, cover: str,
              boundary: np.ndarray | None = None) -> pd.DataFrame:
    """The cells covering the points: ``cell_id`` and ``geometry`` (clipped to ``boundary``).

    Args:
        cover: "points" (every cell of the points' bounding box) or "hull" (the cells that meet
            the points' convex hull).
        boundary: polygons the cells are clipped to; cells outside all of them are dropped.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise InputError("areas of kind \"cells\" with cover = \"points\" need incidents with "
                         "coordinates; map the x and y columns in the incident mappings")
    ix, iy = np.floor(x[ok] / size).astype(np.int64), np.floor(y[ok] / size).astype(np.int64)
    gx, gy = np.meshgrid(np.arange(ix.min(), ix.max() + 1), np.arange(iy.min(), iy.max() + 1))
    gx, gy = gx.ravel(), gy.ravel()
    boxes = shapely.box(gx * size, gy * size, (gx + 1) * size, (gy + 1) * size)
    keep = np.ones(len(boxes), bool)
    if cover == "hull":
        hull = shapely.convex_hull(shapely.multipoints(np.c_[x[ok], y[ok]]))
        keep &= shapely.intersects(boxes, shapely.buffer(hull, size * 1e-6))
    if boundary is not None:
        outline = shapely.union_all(boundary)
        boxes = np.where(keep, shapely.intersection(boxes, outline), boxes)
        keep &= shapely.area(boxes) > 0
    ids = cell_ids(gx[keep] * size + size / 2, gy[keep] * size + size / 2, size)
    return pd.DataFrame({"cell_id": ids, "geometry": boxes[keep]})


def cell_parents(cells: pd.DataFrame, points: pd.DataFrame, size: float) -> pd.Series:
    """Per cell, the table area most of its points name; cells without such points take the
    parent of the nearest cell that has one (None when no point names a table area).

    Args:
        points: ``x``, ``y`` and ``area_id`` (the table area a row names, or missing).
    """
    named = points.dropna(subset=[C.X, C.Y, C.AREA_ID])
    home = pd.Series(cell_ids(named[C.X].to_numpy(float), named[C.Y].to_numpy(float), size),
                     index=named.index)
    votes = pd.DataFrame({"cell": home, "area": named[C.AREA_ID]}).value_counts()
    votes = votes.reset_index().sort_values(["cell", "count", "area"],
                                            ascending=[True, False, True])
    majority = votes.drop_duplicates("cell").set_index("cell")["area"]
    parent = cells["cell_id"].map(majority)
    if parent.notna().any() and parent.isna().any():
        centres = shapely.centroid(cells["geometry"].to_numpy())
        xy = np.c_[shapely.get_x(centres), shapely.get_y(centres)]
        has = parent.notna().to_numpy()
        nearest = cKDTree(xy[has]).query(xy[~has])[1]
        parent[~has] = parent[has].to_numpy()[nearest]
    return parent


def cells_under_table(cells: pd.DataFrame, parent: pd.Series,
                      table: pd.DataFrame | None, covariates: tuple[str, ...] = ()
                      ) -> pd.DataFrame:
    """Cell rows with the hierarchy (and covariates) of their parent table area."""
    frame = pd.DataFrame({C.AREA_ID: cells["cell_id"].to_numpy()})
    if table is not None and parent.notna().any():
        up = table.set_index(C.AREA_ID).reindex(parent.to_numpy())
        frame[C.COMMUNITY_ID] = parent.to_numpy()
        frame[C.COMMUNITY_NAME] = up[C.AREA_NAME].to_numpy()
        for level in PARENT_LEVELS:
            frame[C.LEVEL_ID[level]] = up[C.LEVEL_ID[level]].to_numpy()
            frame[C.LEVEL_NAME[level]] = up[C.LEVEL_NAME[level]].to_numpy()
        for name in covariates:
            frame[name] = up[name].to_numpy(float)
    frame["geometry"] = cells["geometry"].to_numpy()
    return frame
