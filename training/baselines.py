"""Baselines run beside every model: naive, seasonal, moving averages, hotspot maps.

Each baseline forecasts the count of period t+h from what is known at the end of t; its
high-risk probability follows from that count under a Poisson law, so every baseline is
scored on the same metrics as the model. The hotspot maps are the field's references: the
count map of the last 52 periods, and that map smoothed by a Gaussian kernel at several
bandwidths (in cells, or in rings of neighbours for areas known only by their neighbours).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.spatial import cKDTree

from riskgrid import vocabulary as C
from riskgrid.experiment import TrainingConfig
from training.targets import OUTCOME, grid

FLAG_STREAMS = ("collective", "group")
MAP_PERIODS = 52  # the hotspot maps' window: a year of weeks
BANDWIDTHS = (0.5, 1.0, 2.0)  # in nearest-neighbour distances (cells) or neighbour rings
KERNEL_PREFIX = "kernel_density_"


def _behind(values: np.ndarray, k: int) -> np.ndarray:
    """Column t holds period t-k (NaN before the start)."""
    out = np.full(values.shape, np.nan)
    if 0 <= k < values.shape[1]:
        out[:, k:] = values[:, : values.shape[1] - k]
    return out


def recent_mean(panel: pd.DataFrame, stream: str, periods: int = MAP_PERIODS) -> np.ndarray:
    """(areas x periods) mean count of the last ``periods`` periods known at the end of t.

    From the panel's rolling sum when it has one; otherwise from the difference of two
    expanding totals known at t (which also counts the late reports, made in the window, of
    events before it). Fewer periods at the start of the data: the mean of those there are.
    """
    if f"{stream}_sum_{periods}" in panel:
        total = grid(panel, f"{stream}_sum_{periods}")
        return total / np.minimum(np.arange(1, total.shape[1] + 1), periods)[None, :]
    elapsed = np.arange(1, panel[C.PERIOD].nunique() + 1, dtype=np.float64)
    total = grid(panel, f"{stream}_mean_all") * elapsed[None, :]
    before = np.nan_to_num(_behind(total, periods), nan=0.0)
    # a difference of two float totals: clipped, so an empty window is 0, not -1e-9
    return np.maximum(total - before, 0.0) / np.minimum(elapsed, periods)[None, :]


def _forecast(panel: pd.DataFrame, stream: str, kind: str, h: int, season: int,
              windows: list[int], smoothers: dict[str, sparse.csr_matrix]) -> np.ndarray:
    if kind == "last_value":
        return panel[f"{stream}_now"].to_numpy(np.float64)
    if kind == "seasonal_naive":
        return _behind(grid(panel, OUTCOME + stream), season - h).ravel()
    if kind == f"moving_average_{MAP_PERIODS}" and MAP_PERIODS not in windows:
        return recent_mean(panel, stream).ravel()
    if kind.startswith("moving_average_"):
        w = int(kind.rsplit("_", 1)[1])
        return panel[f"{stream}_sum_{w}"].to_numpy(np.float64) / w
    if kind == "long_run_mean":
        return grid(panel, f"{stream}_mean_all").ravel()
    return (smoothers[kind] @ recent_mean(panel, stream)).ravel()  # a kernel-density map


def baseline_names(windows: list[int], smoothers: dict[str, sparse.csr_matrix],
                   has_last_year: bool) -> list[str]:
    """The baselines that can forecast every test row (last year's value needs a year)."""
    names = ["last_value"] + (["seasonal_naive"] if has_last_year else [])
    names += [f"moving_average_{w}" for w in sorted({*windows, MAP_PERIODS})]
    names.append("long_run_mean")
    return names + list(smoothers)


def hotspot_smoothers(areas: pd.DataFrame, area_ids: np.ndarray) -> dict[str, sparse.csr_matrix]:
    """The kernel-density maps' smoothers by baseline name, rows in ``area_ids`` order.

    By centroid distance when every area has one, else by neighbour rings when some area has
    neighbours; none otherwise.
    """
    table = areas.set_index(C.AREA_ID).loc[list(area_ids)]
    size = table[C.AREA_KM2].astype(np.float64).fillna(1.0).to_numpy()
    if table[C.CENTROID_X].notna().all() and len(table) > 1:
        return {f"{KERNEL_PREFIX}{b:g}": kernel_smoother(table.reset_index(), b, size)
                for b in BANDWIDTHS}
    if C.NEIGHBOURS in table and table[C.NEIGHBOURS].fillna("").astype(str).str.len().gt(0).any():
        rings = neighbour_rings(table.index.to_numpy(), table[C.NEIGHBOURS], max(BANDWIDTHS))
        return {f"{KERNEL_PREFIX}{b:g}": _normalised(_ring_kernel(rings, b), size)
                for b in BANDWIDTHS}
    return {}


def kernel_smoother(areas: pd.DataFrame, bandwidth: float = 1.0,
                    size: np.ndarray | None = None) -> sparse.csr_matrix:
    """Gaussian kernel weights between area centroids, for a kernel-density hotspot map.

    ``bandwidth`` is in median distances to the nearest other centroid (cells of a square
    grid). Weight ``exp(-d^2 / 2 b^2)`` up to 3 bandwidths, the area itself weight 1, times
    the receiving area's ``size``; columns sum to 1, so each area's events are spread over
    the map and the city's expected total is kept.
    """
    points = areas[[C.CENTROID_X, C.CENTROID_Y]].to_numpy(np.float64)
    tree = cKDTree(points)
    nearest = tree.query(points, k=2)[0][:, 1]
    scale = bandwidth * float(np.median(nearest))
    pairs = tree.sparse_distance_matrix(tree, 3 * scale, output_type="coo_matrix")
    others = pairs.row != pairs.col  # the pairs hold each area's own zero distance, or not
    weights = np.exp(-0.5 * (pairs.data[others] / scale) ** 2)
    n = len(points)
    matrix = sparse.coo_matrix((weights, (pairs.row[others], pairs.col[others])), shape=(n, n))
    matrix = matrix.tocsr() + sparse.identity(n, format="csr")  # each area's own weight 1
    return _normalised(matrix, np.ones(n) if size is None else size)


def neighbour_rings(ids: np.ndarray, neighbours: pd.Series, bandwidth: float) -> list[sparse.csr_matrix]:
    """0/1 matrices of the areas k rings apart, k = 1 .. 3 x bandwidth (ring 0: itself)."""
    position = {a: i for i, a in enumerate(ids)}
    rows, cols = [], []
    for i, text in enumerate(neighbours.fillna("").astype(str)):
        for j in (position.get(n.strip()) for n in text.split(";") if n.strip()):
            if j is not None and j != i:
                rows += [i, j]
                cols += [j, i]
    n = len(ids)
    adjacency = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    adjacency.data[:] = 1.0
    reached = sparse.identity(n, format="csr")
    frontier, rings = reached, [reached]
    for _ in range(int(np.ceil(3 * bandwidth))):
        step = ((frontier @ adjacency) > 0).astype(np.float64)
        frontier = (step - step.multiply(reached > 0)).tocsr()
        frontier.eliminate_zeros()
        reached = (reached + frontier).tocsr()
        rings.append(frontier)
    return rings


def _ring_kernel(rings: list[sparse.csr_matrix], bandwidth: float) -> sparse.csr_matrix:
    kept = rings[: int(np.ceil(3 * bandwidth)) + 1]
    return sum((np.exp(-0.5 * (k / bandwidth) ** 2) * ring for k, ring in enumerate(kept)),
               sparse.csr_matrix(rings[0].shape)).tocsr()


def _normalised(matrix: sparse.csr_matrix, size: np.ndarray) -> sparse.csr_matrix:
    """Rows weighted by the receiving area's size, then each column summing to 1."""
    weighted = sparse.diags(size) @ matrix
    column_sums = np.asarray(weighted.sum(axis=0)).ravel()
    return (weighted @ sparse.diags(1 / column_sums)).tocsr()


def baseline_forecasts(panel: pd.DataFrame, smoothers: dict[str, sparse.csr_matrix],
                       config: TrainingConfig, h: int, season: int, windows: list[int],
                       threshold: np.ndarray,
                       names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each baseline, (expected count of t+h, probability that t+h is high-risk).

    ``smoothers`` are :func:`hotspot_smoothers` of the panel's areas (the kernel maps).
    """
    n_periods = panel[C.PERIOD].nunique()
    out = {}
    for name in names:
        count = _forecast(panel, config.target, name, h, season, windows, smoothers)
        if config.risk_flag == "collective_or_group":
            rate = sum(_forecast(panel, s, name, h, season, windows, smoothers)
                       for s in FLAG_STREAMS if f"{s}_now" in panel)
            probability = 1 - np.exp(-np.maximum(np.nan_to_num(rate, nan=0.0), 0.0))
        else:
            limit = np.repeat(np.floor(threshold), n_periods)
            probability = stats.poisson.sf(limit, np.maximum(np.nan_to_num(count), 1e-9))
        out[name] = (count, probability)
    return out
