"""Spatial features: what happens in neighbouring grids (spread) and in the parent units."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from features.catalogue import STREAMS, FeatureSpec
from riskgrid import vocabulary as C

PARENT_LEVELS = ("community", "street", "district")
LEVEL_WORDS = {"community": ("community", "社区"), "street": ("street", "街道"),
               "district": ("district", "区")}


def neighbour_matrix(areas: pd.DataFrame) -> sparse.csr_matrix:
    """Row-normalized adjacency: row i averages over the neighbours of area i."""
    ids = pd.Index(areas[C.AREA_ID])
    n = len(ids)
    lists = areas[C.NEIGHBOURS].fillna("").astype(str).str.split(";")
    pairs = pd.DataFrame({"row": np.arange(n), "id": lists.to_numpy()}).explode("id")
    cols = ids.get_indexer(pairs["id"].astype(object))
    keep = cols >= 0
    rows, cols = pairs["row"].to_numpy(np.int64)[keep], cols[keep]
    if not len(rows):
        return sparse.csr_matrix((n, n))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    degree = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(np.where(degree > 0, 1 / np.maximum(degree, 1), 0)) @ matrix


def adjacency(areas: pd.DataFrame) -> sparse.csr_matrix:
    """0/1 adjacency from the ';'-joined neighbour lists (ids not in ``areas`` ignored)."""
    ids = pd.Index(areas[C.AREA_ID])
    n = len(ids)
    lists = areas[C.NEIGHBOURS].fillna("").astype(str).str.split(";")
    pairs = pd.DataFrame({"row": np.arange(n), "id": lists.to_numpy()}).explode("id")
    cols = ids.get_indexer(pairs["id"].astype(object))
    keep = cols >= 0
    matrix = sparse.csr_matrix((np.ones(int(keep.sum())),
                                (pairs["row"].to_numpy(np.int64)[keep], cols[keep])),
                               shape=(n, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def parent_codes(areas: pd.DataFrame, level: str) -> np.ndarray:
    """Each area's parent unit at ``level``, as a number from 0 (over the whole table)."""
    return pd.factorize(areas[C.LEVEL_ID[level]])[0]


def parent_sums(areas: pd.DataFrame, level: str, values: np.ndarray,
                rows: slice = slice(None)) -> np.ndarray:
    """Per parent unit at ``level``, the sum of ``values`` over the area rows ``rows`` (the
    rows of ``values``); the sums of the blocks of a city add up to the city's."""
    every = parent_codes(areas, level)
    codes, units = every[rows], every.max() + 1 if len(every) else 0
    # A (units x grids) membership matrix: one sparse product instead of np.add.at.
    member = sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                               shape=(units, len(codes)))
    return member @ np.asarray(values, dtype=np.float64)


def parent_mean(areas: pd.DataFrame, level: str, values: np.ndarray, rows: slice = slice(None),
                sums: np.ndarray | None = None) -> np.ndarray:
    """For each grid of ``rows``, the average of ``values`` over every grid of its parent unit
    at ``level``.

    Args:
        sums: the parent units' sums (:func:`parent_sums` over the whole city); by default
            computed from ``values``, which must then hold every area.
    """
    codes = parent_codes(areas, level)
    size = np.bincount(codes).astype(np.float64)
    sums = parent_sums(areas, level, values) if sums is None else sums
    return (sums / size[:, None])[codes[rows]]


def neighbour_mean(near: sparse.csr_matrix, values: np.ndarray, rows: slice = slice(None),
                   held: np.ndarray | None = None) -> np.ndarray:
    """``(near @ values)[rows]``, where the rows of ``values`` are the area rows ``held`` (all
    by default; sorted, and holding every neighbour of ``rows``). Each sum runs over the same
    neighbours in the same order either way, so a block's rows are the whole city's."""
    part = near[rows]
    if held is not None:
        part = sparse.csr_matrix((part.data, np.searchsorted(held, part.indices), part.indptr),
                                 shape=(part.shape[0], len(held)))
    return part @ values


def neighbour_sources(short: int, long: int) -> list[tuple[str, int]]:
    """The (stream, window) sums whose neighbour averages are features."""
    return [("all", short), ("dispute", short), ("group", long), ("collective", long)]


def parent_sources(short: int, long: int) -> list[tuple[str, int]]:
    """The (stream, window) sums whose parent-unit averages are features."""
    return [("all", long), ("dispute", short), ("collective", long)]


def parent_levels(areas: pd.DataFrame) -> list[str]:
    """The parent levels that are not the grid itself in this city."""
    return [level for level in PARENT_LEVELS
            if areas[C.LEVEL_ID[level]].nunique() != len(areas)]


def spatial_features(values: dict[str, np.ndarray], areas: pd.DataFrame, short: int, long: int,
                     rows: slice = slice(None), held: np.ndarray | None = None,
                     parents: dict[tuple[str, str], np.ndarray] | None = None,
                     near: sparse.csr_matrix | None = None
                     ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Neighbour and parent-unit averages of a few count features, for the area rows ``rows``.

    ``values`` holds (areas x periods) arrays whose rows follow ``areas`` (the whole table), or,
    with ``held``, the area rows ``held`` only (:func:`neighbour_mean`); then ``parents`` holds
    the whole city's :func:`parent_sums` by (level, source). ``near`` is the areas'
    :func:`neighbour_matrix` (computed when None).
    """
    out: dict[str, np.ndarray] = {}
    specs: list[FeatureSpec] = []
    near = neighbour_matrix(areas) if near is None else near
    for stream, window in neighbour_sources(short, long):
        source = f"{stream}_sum_{window}"
        if source not in values:
            continue
        en, zh = STREAMS[stream]
        name = f"neighbours_{source}"
        out[name] = neighbour_mean(near, values[source], rows, held)
        specs.append(FeatureSpec(name, "spread",
                                 f"{en} in neighbouring grids, last {window} periods (average)",
                                 f"相邻网格近{window}期{zh}数(平均)"))
    for level in parent_levels(areas):
        word_en, word_zh = LEVEL_WORDS[level]
        for stream, window in parent_sources(short, long):
            source = f"{stream}_sum_{window}"
            if source not in values:
                continue
            en, zh = STREAMS[stream]
            name = f"{level}_{source}"
            sums = None if parents is None else parents[(level, source)]
            out[name] = parent_mean(areas, level, values[source], rows, sums)
            specs.append(FeatureSpec(name, "hierarchy",
                                     f"{en} per grid in the {word_en}, last {window} periods",
                                     f"所在{word_zh}近{window}期每网格{zh}数"))
    return out, specs
