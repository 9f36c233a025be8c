"""Geometry: polygons from shapefiles or GeoJSON, square hotspot cells, point assignment, adjacency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapefile
import shapely
from shapely import STRtree
from shapely.geometry import shape

from riskgrid.errors import InputError

SQ_KM_PER_SQ_UNIT = {"metre": 1e-6, "foot": 0.3048**2 * 1e-6}


def read_polygons(path: Path) -> pd.DataFrame:
    """Attributes of every polygon of a shapefile (.shp or zipped) or GeoJSON, plus ``geometry``."""
    if not path.is_file():
        raise InputError(f"{path}: polygon file not found; fix the areas 'path' in the "
                         "experiment file.")
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            features = json.loads(path.read_text(encoding="utf-8"))["features"]
        except (ValueError, KeyError):
            raise InputError(f"{path}: not a GeoJSON FeatureCollection; export the areas "
                             "again as GeoJSON or a shapefile.") from None
        rows = [{**(f.get("properties") or {}), "geometry": shape(f["geometry"])}
                for f in features]
    else:
        try:
            with shapefile.Reader(str(path)) as reader:
                rows = [{**sr.record.as_dict(), "geometry": shape(sr.shape.__geo_interface__)}
                        for sr in reader.iterShapeRecords()]
        except shapefile.ShapefileException as exc:
            raise InputError(f"{path}: not a readable shapefile ({exc}).") from None
    if not rows:
        raise InputError(f"{path}: holds no polygons; export the areas again.")
    frame = pd.DataFrame(rows)
    frame["geometry"] = shapely.make_valid(frame["geometry"].to_numpy())
    return frame


def assign_points(x: np.ndarray, y: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the polygon holding each point (-1 for points outside all of them).

    A point on a shared border goes to the polygon listed first, so every point has one home.
    """
    points = shapely.points(x, y)
    tree = STRtree(polygons)
    point_idx, poly_idx = tree.query(points, predicate="intersects")
    home = np.full(len(points), -1, dtype=np.int64)
    order = np.lexsort((poly_idx, point_idx))
    point_idx, poly_idx = point_idx[order], poly_idx[order]
    first = np.r_[True, point_idx[1:] != point_idx[:-1]] if len(point_idx) else np.array([], bool)
    home[point_idx[first]] = poly_idx[first]
    return home


def cell_ids(x: np.ndarray, y: np.ndarray, size: float) -> np.ndarray:
    """Stable ids of the square cells (aligned to multiples of ``size``) holding each point."""
    ix = np.floor(np.asarray(x, float) / size).astype(np.int64)
    iy = np.floor(np.asarray(y, float) / size).astype(np.int64)
    return np.char.add(np.char.add(np.char.add("cell_", ix.astype(str)), "_"), iy.astype(str))


def square_cells(boundary: np.ndarray, size: float) -> pd.DataFrame:
    """Cells of side ``size`` covering the union of ``boundary`` polygons, clipped to it.

    Returns:
        One row per cell: ``cell_id``, ``geometry`` (the clipped cell), ``parent`` (index of the
        boundary polygon holding the most of the cell).
    """
    xmin, ymin, xmax, ymax = shapely.total_bounds(boundary)
    ixs = np.arange(np.floor(xmin / size), np.ceil(xmax / size), dtype=np.int64)
    iys = np.arange(np.floor(ymin / size), np.ceil(ymax / size), dtype=np.int64)
    gx, gy = (a.ravel() for a in np.meshgrid(ixs, iys))
    boxes = shapely.box(gx * size, gy * size, (gx + 1) * size, (gy + 1) * size)
    tree = STRtree(boundary)
    box_idx, poly_idx = tree.query(boxes, predicate="intersects")
    pieces = shapely.intersection(boxes[box_idx], boundary[poly_idx])
    overlap = shapely.area(pieces)
    frame = pd.DataFrame({"box": box_idx, "poly": poly_idx, "overlap": overlap, "piece": pieces})
    frame = frame[frame["overlap"] > 0]
    parent = frame.sort_values(["box", "overlap", "poly"], ascending=[True, False, True])
    parent = parent.drop_duplicates("box").set_index("box")["poly"]
    clipped = frame.groupby("box")["piece"].agg(lambda g: shapely.union_all(g.to_numpy()))
    ids = cell_ids(gx[clipped.index] * size + size / 2, gy[clipped.index] * size + size / 2, size)
    return pd.DataFrame({"cell_id": ids, "geometry": clipped.to_numpy(),
                         "parent": parent.loc[clipped.index].to_numpy()})


def adjacency(polygons: np.ndarray, ids: np.ndarray, tolerance: float = 1e-6) -> list[str]:
    """For each polygon, the ';'-joined ids of the polygons it touches (queen contiguity)."""
    tree = STRtree(polygons)
    grown = shapely.buffer(polygons, tolerance) if tolerance else polygons
    left, right = tree.query(grown, predicate="intersects")
    keep = left != right
    pairs = pd.DataFrame({"a": left[keep], "b": ids[right[keep]]}).sort_values(["a", "b"])
    joined = pairs.groupby("a")["b"].agg(";".join)
    return [joined.get(i, "") for i in range(len(polygons))]
