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


def adjacency(areas: pd.DataFrame) -> sparse.csr_matrix:
    """0/1 adjacency from the ';'-joined neighbour lists (ids not in ``areas`` ignored)."""
    ids = pd.Index(areas[C.AREA_ID])
    n = len(ids)
    lists = areas[C.NEIGHBOURS].fillna("").astype(str).str.split(";")
    pairs = pd.DataFrame({"row": np.arange(n), "id": lists.to_numpy()}).explode("id")
    cols = ids.get_indexer(pairs["id"].astype(object))
    keep = cols >= 0
    rows, cols = pairs["row"].to_numpy(np.int64)[keep], cols[keep]
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def neighbour_matrix(areas: pd.DataFrame) -> sparse.csr_matrix:
    """Row-normalized adjacency: row i averages over the neighbours of area i."""
    matrix = adjacency(areas)
    degree = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(np.where(degree > 0, 1 / np.maximum(degree, 1), 0)) @ matrix


def parent_mean(areas: pd.DataFrame, level: str, values: np.ndarray) -> np.ndarray:
    """For each grid, the average of ``values`` over every grid of its parent unit at ``level``."""
    return unit_mean(pd.factorize(areas[C.LEVEL_ID[level]])[0], values)


def unit_mean(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each row, the average of ``values`` over the rows with the same unit code."""
    size = np.bincount(codes).astype(np.float64)
    # A sparse indicator product sums each unit's rows far faster than np.add.at.
    member = sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                               shape=(len(size), len(codes)))
    return (np.asarray(member @ values) / size[:, None])[codes]


def spatial_features(values: dict[str, np.ndarray], areas: pd.DataFrame, short: int, long: int
                     ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Neighbour and parent-unit averages of a few count features.

    ``values`` holds (areas x periods) arrays whose rows follow ``areas``.
    """
    out: dict[str, np.ndarray] = {}
    specs: list[FeatureSpec] = []
    near = neighbour_matrix(areas)
    for stream, window in (("all", short), ("dispute", short), ("group", long),
                           ("collective", long)):
        source = f"{stream}_sum_{window}"
        if source not in values:
            continue
        en, zh = STREAMS[stream]
        name = f"neighbours_{source}"
        out[name] = near @ values[source]
        specs.append(FeatureSpec(name, "spread",
                                 f"{en} in neighbouring grids, last {window} periods (average)",
                                 f"相邻网格近{window}期{zh}数(平均)"))
    for level in PARENT_LEVELS:
        if areas[C.LEVEL_ID[level]].nunique() == len(areas):
            continue  # the level is the grid itself in this city
        word_en, word_zh = LEVEL_WORDS[level]
        for stream, window in (("all", long), ("dispute", short), ("collective", long)):
            source = f"{stream}_sum_{window}"
            if source not in values:
                continue
            en, zh = STREAMS[stream]
            name = f"{level}_{source}"
            out[name] = parent_mean(areas, level, values[source])
            specs.append(FeatureSpec(name, "hierarchy",
                                     f"{en} per grid in the {word_en}, last {window} periods",
                                     f"所在{word_zh}近{window}期每网格{zh}数"))
    return out, specs
