"""Space-time intensities: decayed rates, long windows, ring-smoothed maps and near repeats.

The best simple forecasts of where events happen are maps: a long-run rate smoothed over
space, a recent rate decayed over time. These features give the model those maps at several
scales, so it can weigh them per area and period instead of learning them from raw counts:

- per area (point-in-time, late reports left out): exponentially decayed rates at several
  half-lives and sums over long windows (:func:`decay_features`);
- across areas: the same rates smoothed over neighbour rings with a Gaussian kernel at several
  bandwidths, the events of the period just ended in and around the area (near repeats and
  their surge against the usual), the long-run rate of the parent units, and the recent
  rate of each parent unit and of the city against its own long-run rate
  (:func:`intensity_features`).

Rings come from the areas' neighbour lists: ring 1 the neighbours, ring 2 their neighbours
that are neither the area nor ring 1. Areas without neighbours get their own rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from features.catalogue import PERIOD_WORDS, FeatureSpec, stream_words
from features.counts import Carry, Stream, carried_ewm, known_window
from features.spread import (
    LEVEL_WORDS,
    PARENT_LEVELS,
    adjacency,
    neighbour_mean,
    parent_codes,
)
from riskgrid import vocabulary as C
from riskgrid.experiment import FeaturesConfig

# Streams whose intensities are mapped: all incidents, disputes and the high-risk streams.
INTENSITY_STREAMS = ("all", "dispute", "group", "collective")
HALF_LIVES = (1, 2, 4, 13, 52)  # periods
LONG_WINDOWS = (26, 52)  # periods
BANDWIDTHS = (1.0, 2.0)  # Gaussian kernel bandwidths, in rings
RINGS = 2
SMOOTHED = ("decay_4", "mean_all")  # what the kernels smooth
# A parent unit's recent rate against its long run, both plus this many events per period,
# so a quiet unit's ratio does not jump about.
RATIO_PRIOR = 1.0


def decay_name(stream: str, half_life: float) -> str:
    return f"{stream}_decay_{half_life:g}"


def decay_features(streams: dict[str, Stream], config: FeaturesConfig, first: int = 0,
                   carry: Carry | None = None
                   ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Per area: decayed rates (events per period) and long-window sums of the mapped streams,
    for the periods from ``first`` (``carry``: where the filters carry on from).

    A half-life equal to the panel's own EWMA, or a window it already sums, is not repeated.
    """
    unit_en, unit_zh = PERIOD_WORDS[config.period]
    one = unit_en.rstrip("s")
    values: dict[str, np.ndarray] = {}
    specs: list[FeatureSpec] = []
    for name in INTENSITY_STREAMS:
        if name not in streams:
            continue
        en, zh = stream_words(name)
        for half_life in HALF_LIVES:
            if half_life == config.ewm_halflife:
                continue
            key = decay_name(name, half_life)
            values[key] = carried_ewm(values, key, streams[name], half_life, first, carry)
            specs.append(FeatureSpec(key, "intensity",
                                     f"{en} per {one}, decayed with a {half_life:g}-{one} "
                                     "half-life", f"{zh}指数衰减率(半衰期{half_life:g}{unit_zh})"))
        for window in LONG_WINDOWS:
            if window in config.windows:
                continue
            key = f"{name}_sum_{window}"
            values[key] = known_window(streams[name], window, first=first)
            specs.append(FeatureSpec(key, "counts", f"{en} in the last {window} {unit_en}",
                                     f"近{window}{unit_zh}{zh}数"))
    return values, specs


def rate(values: dict[str, np.ndarray], stream: str, kind: str, config: FeaturesConfig
         ) -> np.ndarray | None:
    """One of the per-area rates by kind: ``decay_<h>`` or ``mean_all`` (None if absent)."""
    if kind == "mean_all":
        return values.get(f"{stream}_mean_all")
    half_life = float(kind.split("_")[1])
    key = f"{stream}_ewm" if half_life == config.ewm_halflife else decay_name(stream, half_life)
    return values.get(key)


def ring_matrices(areas: pd.DataFrame, rings: int = RINGS) -> list[sparse.csr_matrix]:
    """0/1 matrices of each ring: entry (i, j) is 1 if j is exactly k steps from i."""
    step = adjacency(areas)
    n = step.shape[0]
    reached = sparse.identity(n, format="csr", dtype=np.float64)
    frontier = reached
    out = []
    for _ in range(rings):
        grown = ((frontier @ step) > 0).astype(np.float64)
        ring = ((grown - grown.multiply(reached)) > 0).astype(np.float64).tocsr()
        reached = ((reached + ring) > 0).astype(np.float64).tocsr()
        frontier = ring
        out.append(ring)
    return out


def kernel(rings: list[sparse.csr_matrix], bandwidth: float) -> sparse.csr_matrix:
    """Row-normalised Gaussian weights over the area (ring 0) and its rings."""
    n = rings[0].shape[0]
    matrix = sparse.identity(n, format="csr", dtype=np.float64)
    for k, ring in enumerate(rings, start=1):
        matrix = matrix + np.exp(-0.5 * (k / bandwidth) ** 2) * ring
    total = np.asarray(matrix.sum(axis=1)).ravel()
    return (sparse.diags(1 / total) @ matrix).tocsr()


def intensity_sources() -> list[str]:
    """The per-area arrays :func:`intensity_features` reads, of every mapped stream."""
    kinds = ("now", "mean_all", "ewm", *(f"decay_{h:g}" for h in HALF_LIVES))
    return [f"{s}_{k}" for s in INTENSITY_STREAMS for k in kinds]


def ring_reach(areas: pd.DataFrame) -> sparse.csr_matrix:
    """Nonzero where an area lies within the rings of another (itself included)."""
    n = len(areas)
    return (sparse.identity(n, format="csr") + sum(ring_matrices(areas))).tocsr()


def city_sums(values: dict[str, np.ndarray], names: list[str],
              rows: slice = slice(None)) -> dict[tuple[str, str], np.ndarray]:
    """The sums over the area rows ``rows`` of each source: a block's, added up for the city."""
    return {("city", name): np.asarray(values[name][rows], np.float64).sum(axis=0, keepdims=True)
            for name in names if name in values}


def intensity_features(values: dict[str, np.ndarray], areas: pd.DataFrame,
                       config: FeaturesConfig, rows: slice = slice(None),
                       held: np.ndarray | None = None,
                       parents: dict[tuple[str, str], np.ndarray] | None = None
                       ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """Smoothed maps, near repeats, parent long-run rates and level shifts (see module doc).

    ``values`` holds the per-area features as (areas x periods) arrays in ``areas`` order
    (the whole table), or, with ``held``, the area rows ``held`` only (sorted, holding every
    area within the rings of ``rows``); then ``parents`` holds the whole city's parent-unit
    sums by (level, source) (:func:`features.spread.parent_sums`) and its sums by
    ("city", source) (:func:`city_sums`). The features are those of the area rows ``rows``.
    """
    rings = ring_matrices(areas)
    kernels = {b: kernel(rings, b) for b in BANDWIDTHS}
    view = _View(areas, rows, held, parents)
    out: dict[str, np.ndarray] = {}
    specs: list[FeatureSpec] = []
    for stream in INTENSITY_STREAMS:
        if f"{stream}_now" not in values or not view.any(values, f"{stream}_mean_all"):
            continue  # a stream the city never records: its maps would all be zero
        for part in (_smoothed(values, stream, kernels, config, view),
                     _near_repeats(values, stream, rings, config, view),
                     _parents(values, stream, areas, config, view)):
            out |= part[0]
            specs += part[1]
    return out, specs


class _View:
    """The rows ``rows`` of city-wide operations on values that hold the rows ``held``."""

    def __init__(self, areas, rows, held, parents):
        self.areas, self.rows, self.held, self.parents = areas, rows, held, parents
        n = len(areas)
        self.own = (None if held is None
                    else np.searchsorted(held, np.arange(n)[rows]))
        self._units: dict[str, tuple] = {}

    def mine(self, x: np.ndarray) -> np.ndarray:
        return x[self.rows] if self.own is None else x[self.own]

    def apply(self, matrix: sparse.csr_matrix, x: np.ndarray) -> np.ndarray:
        return neighbour_mean(matrix, x, self.rows, self.held)

    def any(self, values: dict[str, np.ndarray], name: str) -> bool:
        if self.parents is None:
            return bool(np.any(values[name]))
        return bool(np.any(self.parents[("city", name)]))

    def units(self, level: str) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix]:
        """Each area's unit at ``level``, the units' sizes and their membership matrix (as
        :func:`features.spread.parent_sums` builds it), found once per level."""
        if level not in self._units:
            codes = parent_codes(self.areas, level)
            n_units = codes.max() + 1 if len(codes) else 0
            member = sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                                       shape=(n_units, len(codes)))
            self._units[level] = codes, np.bincount(codes).astype(np.float64), member
        return self._units[level]

    def unit_mean(self, level: str, name: str, x: np.ndarray) -> np.ndarray:
        """Each row's average of ``x`` over its unit at ``level`` ("city": every area)."""
        n = len(self.areas)
        if level == "city":
            total = (city_sums({name: x}, [name])[("city", name)] if self.parents is None
                     else self.parents[("city", name)])
            return np.repeat(total / n, len(np.arange(n)[self.rows]), axis=0)
        codes, size, member = self.units(level)
        sums = None if self.parents is None else self.parents[(level, name)]
        if sums is None:  # the whole city's rows: parent_mean's sums, by the same product
            sums = member @ np.asarray(x, dtype=np.float64)
        return (sums / size[:, None])[codes[self.rows]]

    def unit_size(self, level: str) -> np.ndarray:
        n = len(self.areas)
        if level == "city":
            return np.full((len(np.arange(n)[self.rows]), 1), float(n))
        codes, size, _ = self.units(level)
        return size[codes[self.rows]][:, None]


def _smoothed(values, stream, kernels, config, view):
    en, zh = stream_words(stream)
    one = PERIOD_WORDS[config.period][0].rstrip("s")
    out, specs = {}, []
    for kind in SMOOTHED:
        source = rate(values, stream, kind, config)
        if source is None:
            continue
        what_en = "long-run" if kind == "mean_all" else f"{kind.split('_')[1]}-{one} decayed"
        what_zh = "长期" if kind == "mean_all" else f"半衰期{kind.split('_')[1]}"
        for bandwidth, matrix in kernels.items():
            key = f"{stream}_{kind}_kernel_{bandwidth:g}"
            out[key] = view.apply(matrix, source)
            specs.append(FeatureSpec(key, "intensity",
                                     f"{en}: {what_en} rate smoothed over neighbour rings "
                                     f"(bandwidth {bandwidth:g} rings)",
                                     f"{zh}{what_zh}率的邻域核平滑(带宽{bandwidth:g}圈)"))
    return out, specs


def _near_repeats(values, stream, rings, config, view):
    """Events of the period just ended around the area, and their surge against the usual."""
    en, zh = stream_words(stream)
    one = PERIOD_WORDS[config.period][0].rstrip("s")
    now, long_run = values[f"{stream}_now"], values[f"{stream}_mean_all"]
    ring_one = view.apply(rings[0], now)
    block = view.mine(now) + ring_one  # the area and its neighbours
    usual = view.mine(long_run) + view.apply(rings[0], long_run)
    out = {f"{stream}_ring1_now": ring_one,
           f"{stream}_block_surge": (block + 1) / (usual + 1)}
    specs = [
        FeatureSpec(f"{stream}_ring1_now", "spread", f"{en} in neighbouring areas this {one}",
                    f"本期相邻区域{zh}数"),
        FeatureSpec(f"{stream}_block_surge", "spread",
                    f"{en} this {one} in the area and its neighbours against their long-run "
                    "rate (both plus one)", f"本期本区域及相邻区域{zh}相对长期水平(各加一)"),
    ]
    decayed = rate(values, stream, "decay_1", config)
    if decayed is not None:
        out[f"{stream}_ring1_decay_1"] = view.apply(rings[0], decayed)
        specs.append(FeatureSpec(f"{stream}_ring1_decay_1", "spread",
                                 f"{en} in neighbouring areas, decayed with a 1-{one} half-life",
                                 f"相邻区域{zh}指数衰减数(半衰期1{PERIOD_WORDS[config.period][1]})"))
    return out, specs


def _parents(values, stream, areas, config, view):
    """Each parent unit's long-run rate per area and its recent rate against it; the city's."""
    en, zh = stream_words(stream)
    long_name = f"{stream}_mean_all"
    recent = {k: _rate_name(values, stream, k, config) for k in ("decay_1", "decay_4")}
    out, specs = {}, []
    # A level that is the area itself, or the whole city, adds nothing.
    levels = [lv for lv in PARENT_LEVELS if 1 < areas[C.LEVEL_ID[lv]].nunique() < len(areas)]
    for level in [*levels, "city"]:
        word_en, word_zh = ("city", "全市") if level == "city" else LEVEL_WORDS[level]
        base = view.unit_mean(level, long_name, values[long_name])
        if level != "city":
            out[f"{level}_{stream}_mean_all"] = base
            specs.append(FeatureSpec(f"{level}_{stream}_mean_all", "hierarchy",
                                     f"{en} per area in the {word_en}, long-run rate",
                                     f"所在{word_zh}每区域{zh}长期平均率"))
        size = view.unit_size(level)
        for kind, name in recent.items():
            if name is None:
                continue
            key = f"{level}_{stream}_{kind}_vs_long_run"
            out[key] = ((size * view.unit_mean(level, name, values[name]) + RATIO_PRIOR)
                        / (size * base + RATIO_PRIOR))
            half_life = kind.split("_")[1]
            specs.append(FeatureSpec(key, "trend",
                                     f"{en} in the {word_en}: {half_life}-period decayed rate "
                                     "against the long-run rate",
                                     f"所在{word_zh}{zh}近期(半衰期{half_life})与长期水平之比"))
    return out, specs


def _rate_name(values, stream, kind, config) -> str | None:
    half_life = float(kind.split("_")[1])
    key = f"{stream}_ewm" if half_life == config.ewm_halflife else decay_name(stream, half_life)
    return key if key in values else None
