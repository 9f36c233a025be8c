"""Neighbours of areas without polygons: an adjacency list, nearest centroids, or nearby points."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import AreasConfig

DEFAULT_K = 6


def from_pairs(ids: pd.Series, pairs: pd.DataFrame) -> list[str]:
    """Each area's ';'-joined neighbours from a list of pairs (either order counts both ways).

    Args:
        ids: the area ids, in table order.
        pairs: an adjacency list whose first two columns hold an area id and a neighbour's id;
            its index is the file's row number.
    """
    if pairs.shape[1] < 2:
        raise InputError("the adjacency list needs two columns: an area id and the id of one "
                         "of its neighbours")
    a = pairs.iloc[:, 0].astype("string").str.strip()
    b = pairs.iloc[:, 1].astype("string").str.strip()
    known = set(ids)
    for column, side in ((pairs.columns[0], a), (pairs.columns[1], b)):
        unknown = side.notna() & ~side.isin(known)
        if unknown.any():
            row = unknown.idxmax()
            raise InputError(f"row {row}, column {column}: '{side[row]}' is not an area id of "
                             "the areas table; fix the id or add the area")
    keep = a.notna() & b.notna() & (a != b)
    both = pd.DataFrame({"a": pd.concat([a[keep], b[keep]]), "b": pd.concat([b[keep], a[keep]])})
    joined = both.drop_duplicates().sort_values(["a", "b"]).groupby("a")["b"].agg(";".join)
    return [joined.get(i, "") for i in ids]


def nearest(ids: pd.Series, x: np.ndarray, y: np.ndarray, k: int | None = None,
            within: float | None = None) -> list[str]:
    """Each area's ``k`` nearest areas, or every area within ``within``, by location.

    Areas without a location (NaN) get no neighbours and are no one's neighbour.
    """
    ids = np.asarray(ids, dtype=object)
    located = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    out = [""] * len(ids)
    if len(located) < 2:
        return out
    points = np.c_[x[located], y[located]]
    tree = cKDTree(points)
    if within is not None:
        found = tree.query_ball_point(points, r=within)
    else:
        n = min((k or DEFAULT_K) + 1, len(located))
        found = tree.query(points, k=n)[1].tolist()
    for row, hits in zip(located, found):
        others = sorted(ids[located[j]] for j in hits if located[j] != row)
        out[row] = ";".join(others)
    return out


def point_centres(ids: pd.Series, incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The mean coordinates of each area's incident points (NaN for areas without points)."""
    located = incidents.dropna(subset=[C.X, C.Y])
    means = located.groupby(C.AREA_ID)[[C.X, C.Y]].mean().reindex(ids)
    return means[C.X].to_numpy(float), means[C.Y].to_numpy(float)


def with_neighbours(areas: pd.DataFrame, config: AreasConfig, incidents: pd.DataFrame,
                    pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``areas`` with the neighbours the experiment asks for (``given``: unchanged).

    With ``points``, areas without centroids also get the centre of their points as one, so
    the kernel-density baseline can place them.
    """
    if config.neighbours == "given":
        return areas
    out = areas.copy()
    ids = out[C.AREA_ID]
    if config.neighbours == "file":
        out[C.NEIGHBOURS] = from_pairs(ids, pairs)
        return out
    if config.neighbours == "points":
        px, py = point_centres(ids, incidents)
        out[C.CENTROID_X] = out[C.CENTROID_X].where(out[C.CENTROID_X].notna(), px)
        out[C.CENTROID_Y] = out[C.CENTROID_Y].where(out[C.CENTROID_Y].notna(), py)
    x, y = out[C.CENTROID_X].to_numpy(float), out[C.CENTROID_Y].to_numpy(float)
    if config.neighbours == "centroids" and not np.isfinite(x).any():
        raise InputError("neighbours = \"centroids\" needs centroid_x and centroid_y in the "
                         "areas table; map them under [columns] or use neighbours = \"points\"")
    out[C.NEIGHBOURS] = nearest(ids, x, y, config.neighbours_k, config.neighbours_within)
    return out
