"""Spatial features: what happens in neighbouring grids (spread) and in the parent units."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from features import columns as C
from features.catalogue import STREAMS, FeatureSpec

PARENT_LEVELS = ("community", "street", "district")
LEVEL_WORDS = {"community": ("community", "社区"), "street": ("street", "街道"),
               "district": ("district", "区")}


def neighbour_matrix(areas: pd.DataFrame) -> sparse.csr_matrix:
    """Row-normalized adjacency: row i averages over the neighbours of area i."""
    ids = pd.Index(areas[C.AREA_ID])
    pairs = [(i, j) for i, cell in enumerate(areas[C.NEIGHBOURS].fillna(""))
             for j in ids.get_indexer([n for n in cell.split(";") if n]) if j >= 0]
    n = len(ids)
    if not pairs:
        return sparse.csr_matrix((n, n))
    rows, cols = map(np.asarray, zip(*pairs))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    degree = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(np.where(degree > 0, 1 / np.maximum(degree, 1), 0)) @ matrix


def parent_matrix(areas: pd.DataFrame, level: str) -> sparse.csr_matrix:
    """Row i averages over every grid of area i's parent unit at ``level`` (itself included)."""
    codes, _ = pd.factorize(areas[C.LEVEL_ID[level]])
    n = len(codes)
    member = sparse.csr_matrix((np.ones(n), (np.arange(n), codes)))
    size = np.asarray(member.sum(axis=0)).ravel()
    return member @ sparse.diags(1 / size) @ member.T


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
        matrix = parent_matrix(areas, level)
        word_en, word_zh = LEVEL_WORDS[level]
        for stream, window in (("all", long), ("dispute", short), ("collective", long)):
            source = f"{stream}_sum_{window}"
            if source not in values:
                continue
            en, zh = STREAMS[stream]
            name = f"{level}_{source}"
            out[name] = matrix @ values[source]
            specs.append(FeatureSpec(name, "hierarchy",
                                     f"{en} per grid in the {word_en}, last {window} periods",
                                     f"所在{word_zh}近{window}期每网格{zh}数"))
    return out, specs
