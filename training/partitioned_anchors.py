"""The shrinkage anchors of the panel's parts, each block's on its worker, at the city's level.

:func:`training.shrinkage.anchor_rates` and :func:`training.shrinkage.map_rates` of the whole
panel, block by block: the long-run, kernel long-run and recent rates from the part's own
columns; the last-year map (:func:`training.baselines.recent_mean`) from each area's own rows;
its kernel smoothing from the rows of the areas within the kernel's reach, which the block
reads from the neighbouring parts (:func:`held_blocks`, the rows the backtest's kernel-map
baselines read too). :func:`training.shrinkage.at_city_level` needs the city's sums per
period: each block sums its rows per period, and the sums are added up on a worker
(:func:`city_anchors`), so only a row per period is ever joined, and not here."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features import read_clean
from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from training.baselines import hotspot_smoothers, recent_mean
from training.shrinkage import ANCHORS, LONG_RUN, MAP_ANCHORS


def read_part(part: str, columns: list[str]) -> pd.DataFrame:
    present = set(pq.read_schema(part).names)
    return pd.read_parquet(part, columns=list(dict.fromkeys(c for c in columns if c in present)))


def period_sums(part: str, columns: list[str]) -> pd.DataFrame:
    """Per period, the sums of ``columns`` over the part's areas (in float64: the blocks'
    sums add up to the city's to within float32's rounding of the one in-process sum)."""
    frame = read_part(part, [C.PERIOD, *columns])
    return frame.astype(dict.fromkeys(columns, np.float64)).groupby(C.PERIOD, sort=True).sum()


def long_run(panel: pd.DataFrame, city: pd.DataFrame, stream: str, window: int,
             column: str | None = None, rate: np.ndarray | None = None) -> np.ndarray:
    """:func:`training.shrinkage.long_run_rate` of a block, from the whole city's sums (of
    ``column``, the area's rate, default its long-run mean; ``rate``: its values, when they
    are not a panel column): :func:`training.shrinkage.at_city_level` with the city's sums."""
    column = column or f"{stream}_mean_all"
    by_period = city.reindex(pd.DatetimeIndex(panel[C.PERIOD]))
    recent = by_period[f"{stream}_sum_{window}"].to_numpy(np.float64) / window
    total = by_period[column].to_numpy(np.float64)
    level = np.divide(recent, total, out=np.ones_like(total), where=total > 0)
    values = panel[column].to_numpy(np.float64) if rate is None else rate
    return np.nan_to_num(values * level)


def add_frames(*frames: pd.DataFrame) -> pd.DataFrame:
    return sum(frames[1:], frames[0])


MAP_PREFIX = "anchor_"  # the columns of the map anchors' rates (blocks' and city's frames)


@dataclass(frozen=True)
class Held:
    """The rows (some columns) of a block's areas and of those within its kernels' reach, the
    kernel maps' smoothers on those areas, and where the block's own areas sit among them."""

    panel: pd.DataFrame
    smoothers: dict
    lo: int
    hi: int


def held_rows(area_ids: np.ndarray, smoothers: dict, lo: int, hi: int,
              *frames: pd.DataFrame) -> Held:
    """:class:`Held` from the parts' frames that hold ``area_ids``."""
    frame = pd.concat(frames, ignore_index=True)
    return Held(frame[frame[C.AREA_ID].isin(area_ids)].reset_index(drop=True), smoothers, lo, hi)


def area_smoothers(folder: str, area_ids: np.ndarray, kernels: set[str] | None = None) -> dict:
    """:func:`training.baselines.hotspot_smoothers` of the snapshot's areas (``kernels``
    only, when given), made on a worker: the driver never holds them."""
    if kernels is not None and not kernels:
        return {}
    found = hotspot_smoothers(read_clean(Path(folder), events=False).areas, area_ids)
    return found if kernels is None else {k: v for k, v in found.items() if k in kernels}


def held_blocks(fitter, parts: list[str], edges: np.ndarray, area_ids: np.ndarray,
                smoothers, columns: list[str]) -> list:
    """Per block, a :class:`Held` of ``columns`` on the workers (``fitter``: a
    :class:`training.partitioned.Fitter`; ``smoothers``: a future of the kernel maps'
    smoothers): each part reads its rows once, and a block takes those of the parts holding
    areas within its kernels' reach. Only which parts those are comes back here."""
    plan = fitter.submit(_plan, edges, smoothers, area_ids)
    blocks = [fitter.submit(_item, plan, b) for b in range(len(parts))]
    mine = fitter.gather([fitter.submit(_parts_of, plan)], "the kernels' reach")[0]
    frames = [fitter.submit(read_part, p, columns) for p in parts]
    return [fitter.submit(_held, blocks[b], *[frames[k] for k in mine[b]])
            for b in range(len(parts))]


def _plan(edges: np.ndarray, smoothers: dict, area_ids: np.ndarray) -> list[tuple]:
    """:func:`block_reach`, with the ids of the areas within each block's reach."""
    return [(area_ids[reach], *rest) for reach, *rest in block_reach(edges, smoothers)]


def _item(values: list, i: int):
    return values[i]


def _parts_of(plan: list[tuple]) -> list[list[int]]:
    return [mine for *_, mine in plan]


def _held(block: tuple, *frames: pd.DataFrame) -> Held:
    ids, local, (lo, hi), _ = block
    return held_rows(ids, local, lo, hi, *frames)


def block_reach(edges: np.ndarray, smoothers: dict) -> list[tuple]:
    """Per block of areas ``edges[b]:edges[b + 1]`` (in the smoothers' order): the areas
    within its kernels' reach, the smoothers on those, where its own sit among them, and
    the blocks that hold them."""
    out = []
    for lo, hi in itertools.pairwise(edges):
        reach = np.unique(np.r_[np.arange(lo, hi), *[
            s[lo:hi].indices for s in smoothers.values()]]).astype(int)
        mine = [b for b in range(len(edges) - 1)
                if ((reach >= edges[b]) & (reach < edges[b + 1])).any()]
        local = {name: s[reach][:, reach].tocsr() for name, s in smoothers.items()}
        start = int(np.searchsorted(reach, lo))
        out.append((reach, local, (start, start + hi - lo), mine))
    return out


def map_names(experiment: Experiment, smoothers: list[str]) -> list[str]:
    """The anchors of :data:`training.shrinkage.MAP_ANCHORS` among the experiment's that
    :func:`training.shrinkage.map_rates` gives (a kernel map needs its smoother; ``smoothers``:
    the kernel maps' names)."""
    return [n for n in experiment.training.anchors if n in MAP_ANCHORS
            and (MAP_ANCHORS[n] is None or MAP_ANCHORS[n] in smoothers)]


def map_columns(stream: str) -> list[str]:
    """The panel columns :func:`training.baselines.recent_mean` reads (those present)."""
    return [C.AREA_ID, C.PERIOD, f"{stream}_sum_52", f"{stream}_mean_all"]


def block_maps(held: Held, stream: str, names: list[str]) -> pd.DataFrame:
    """A block's map anchors before the city's level, a row per block row (panel order), as
    :func:`training.shrinkage.map_rates` computes them from the whole panel: the last-year
    map from each area's own rows, its kernel smoothing from those within the kernel's reach."""
    recent = recent_mean(held.panel, stream)  # the held areas x periods
    periods = recent.shape[1]
    out = {C.PERIOD: held.panel[C.PERIOD].to_numpy()[held.lo * periods:held.hi * periods]}
    for name in names:
        kernel = MAP_ANCHORS[name]
        values = recent[held.lo:held.hi] if kernel is None else \
            held.smoothers[kernel][held.lo:held.hi] @ recent
        out[f"{MAP_PREFIX}{name}"] = np.nan_to_num(np.asarray(values).ravel())
    return pd.DataFrame(out)


def frame_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """Per period, the sums of a block's frame's columns."""
    return frame.groupby(C.PERIOD, sort=True).sum()


def with_columns(city: pd.DataFrame, *sums: pd.DataFrame) -> pd.DataFrame:
    """The city's sums per period and the blocks' ``sums`` (of other columns) added up."""
    return city if not sums else city.join(add_frames(*sums))


def city_anchors(fitter, parts: list[str], held: list, experiment: Experiment,
                 smoothers: list[str]) -> tuple[dict[str, str], list | None, object]:
    """Each anchor's column, by name; the blocks' map anchors (futures, None without map
    anchors); and the city's sums per period of the recent counts and of every anchor
    (a future): what :func:`train_rows` brings the anchors to the city's level with.
    ``smoothers``: the names of the kernel maps the workers hold."""
    config = experiment.training
    present = set(pq.read_schema(parts[0]).names)
    columns = anchor_columns(experiment, present)
    maps = map_names(experiment, smoothers)
    recent = f"{config.target}_sum_{experiment.features.windows[-1]}"
    sums = [fitter.submit(period_sums, p, [recent, *columns.values()]) for p in parts]
    blocks = [fitter.submit(block_maps, h, config.target, maps) for h in held] if maps else None
    city = fitter.submit(with_columns, fitter.submit(add_frames, *sums),
                         *[fitter.submit(frame_sums, b) for b in blocks or []])
    return columns | {n: f"{MAP_PREFIX}{n}" for n in maps}, blocks, city


def anchor_columns(experiment: Experiment, present: set[str]) -> dict[str, str]:
    """The panel column of each anchor of :data:`training.shrinkage.ANCHORS` the count model
    may be shrunk toward, by name (the map anchors are computed: :func:`block_maps`)."""
    target = experiment.training.target
    return {LONG_RUN: f"{target}_mean_all"} | {
        name: ANCHORS[name].format(stream=target) for name in experiment.training.anchors
        if name in ANCHORS and name != LONG_RUN
        and ANCHORS[name].format(stream=target) in present}
