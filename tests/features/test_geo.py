"""Point assignment to polygons and square cells, and adjacency."""

from __future__ import annotations

import json

import numpy as np
import shapely

from features.geo import adjacency, assign_points, cell_ids, read_polygons, square_cells


def squares():
    return np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10),
                     shapely.box(0, 10, 10, 20)])


def test_points_go_to_the_polygon_holding_them():
    home = assign_points(np.array([5, 15, 5, 50, 10]), np.array([5, 5, 15, 50, 5]), squares())
    assert home.tolist() == [0, 1, 2, -1, 0]  # a border point goes to the first polygon


def test_cell_ids_are_aligned_to_the_cell_size():
    ids = cell_ids(np.array([0.0, 599.9, 600.0, -1.0]), np.array([0.0, 0.0, 1200.0, 0.0]), 600)
    assert ids.tolist() == ["cell_0_0", "cell_0_0", "cell_1_2", "cell_-1_0"]


def test_cells_cover_the_boundary_and_sit_under_the_polygon_holding_most_of_them():
    cells = square_cells(squares(), 4.0)
    total = shapely.area(cells["geometry"].to_numpy()).sum()
    assert np.isclose(total, 300.0)
    where = cells.set_index("cell_id")
    assert where.loc["cell_3_0", "parent"] == 1  # x 12-16 lies in the second square
    assert where.loc["cell_2_0", "parent"] == 0  # x 8-12: 8 of 16 in each, first wins


def test_adjacency_is_symmetric():
    ids = np.array(["a", "b", "c"])
    assert adjacency(squares(), ids) == ["b;c", "a;c", "a;b"]


def test_geojson_polygons_are_read(tmp_path):
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "g1"},
         "geometry": shapely.geometry.mapping(shapely.box(0, 0, 1, 1))}]}))
    frame = read_polygons(path)
    assert frame["code"].tolist() == ["g1"] and frame["geometry"][0].area == 1.0
