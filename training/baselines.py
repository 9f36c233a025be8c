"""Baselines run beside every model: naive, seasonal, moving averages, hotspot maps.

Each baseline forecasts the count of period t+h from what is known at the end of t; its
high-risk probability follows from that count under a Poisson law, so every baseline is
scored on the same metrics as the model.
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


def _behind(values: np.ndarray, k: int) -> np.ndarray:
    """Column t holds period t-k (NaN before the start)."""
    out = np.full(values.shape, np.nan)
    if 0 <= k < values.shape[1]:
        out[:, k:] = values[:, : values.shape[1] - k]
    return out


def _forecast(panel: pd.DataFrame, stream: str, kind: str, h: int, season: int,
              windows: list[int], smoother: sparse.csr_matrix | None) -> np.ndarray:
    if kind == "last_value":
        return panel[f"{stream}_now"].to_numpy(np.float64)
    if kind == "seasonal_naive":
        return _behind(grid(panel, OUTCOME + stream), season - h).ravel()
    if kind.startswith("moving_average_"):
        w = int(kind.rsplit("_", 1)[1])
        return panel[f"{stream}_sum_{w}"].to_numpy(np.float64) / w
    long_run = grid(panel, f"{stream}_mean_all")
    if kind == "long_run_mean":
        return long_run.ravel()
    return (smoother @ long_run).ravel()  # kernel_density_hotspot


def baseline_names(windows: list[int], has_points: bool, has_last_year: bool) -> list[str]:
    """The baselines that can forecast every test row (last year's value needs a year)."""
    names = ["last_value"] + (["seasonal_naive"] if has_last_year else [])
    names += [f"moving_average_{w}" for w in windows]
    names.append("long_run_mean")
    return names + (["kernel_density_hotspot"] if has_points else [])


def kernel_smoother(areas: pd.DataFrame, bandwidth: float | None = None) -> sparse.csr_matrix:
    """Gaussian kernel weights between area centroids (rows sum to 1), for a KDE hotspot map.

    The default bandwidth is twice the median distance to the nearest other centroid.
    """
    points = areas[[C.CENTROID_X, C.CENTROID_Y]].to_numpy(np.float64)
    tree = cKDTree(points)
    if bandwidth is None:
        nearest = tree.query(points, k=2)[0][:, 1]
        bandwidth = 2 * float(np.median(nearest))
    pairs = tree.sparse_distance_matrix(tree, 3 * bandwidth, output_type="coo_matrix")
    weights = np.exp(-0.5 * (pairs.data / bandwidth) ** 2)
    matrix = sparse.coo_matrix((weights, (pairs.row, pairs.col)), shape=pairs.shape).tocsr()
    matrix = matrix + sparse.identity(len(points), format="csr")  # each area's own weight 1
    # Keep the total expected count: column sums 1 spread each area's events over the map.
    column_sums = np.asarray(matrix.sum(axis=0)).ravel()
    return (matrix @ sparse.diags(1 / column_sums)).tocsr()


def baseline_forecasts(panel: pd.DataFrame, smoother: sparse.csr_matrix | None,
                       config: TrainingConfig, h: int, season: int, windows: list[int],
                       threshold: np.ndarray,
                       names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each baseline, (expected count of t+h, probability that t+h is high-risk).

    ``smoother`` is :func:`kernel_smoother` of the areas, needed by the kernel-density map.
    """
    n_periods = panel[C.PERIOD].nunique()
    out = {}
    for name in names:
        count = _forecast(panel, config.target, name, h, season, windows, smoother)
        if config.risk_flag == "collective_or_group":
            rate = sum(_forecast(panel, s, name, h, season, windows, smoother)
                       for s in FLAG_STREAMS if f"{s}_now" in panel)
            probability = 1 - np.exp(-np.nan_to_num(rate, nan=0.0))
        else:
            limit = np.repeat(np.floor(threshold), n_periods)
            probability = stats.poisson.sf(limit, np.maximum(np.nan_to_num(count), 1e-9))
        out[name] = (count, probability)
    return out
