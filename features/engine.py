"""Engines for the per-area step: in this process, forked worker processes, or a Dask cluster.

Areas are independent in the per-area step, so each block of contiguous area rows gets only its
own areas' events, the same function runs on every block, and the blocks are stacked back in
order: the panel is the same for any worker count and on any engine. Forked workers share the
parent's event arrays without copying them; a Dask cluster gets each block's events sent to it
once, and the petitions once per worker (a repeat petitioner is recognized across areas).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.events import IncidentIndex
from features.layout import Layout
from riskgrid.cluster import block_count, connect
from riskgrid.settings import Settings

MIN_EVENTS_PER_WORKER = 250_000  # below this, starting workers costs more than it saves
_JOB: tuple | None = None
Parts = tuple[dict[str, np.ndarray], list]


@dataclass(frozen=True)
class Engine:
    """Where the per-area step and model fitting run.

    Attributes:
        workers: processes forked here for the per-area step (when there is no scheduler).
        scheduler: address of a Dask scheduler; when set, the work runs on its cluster.
        timeout: seconds one step may take on the cluster (RISKGRID_DASK_TIMEOUT).
        retries: runs again of a cluster task that raised (RISKGRID_DASK_RETRIES).
    """

    workers: int = 1
    scheduler: str | None = None
    timeout: float = 3600.0
    retries: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        """RISKGRID_ENGINE, RISKGRID_WORKERS, RISKGRID_DASK_SCHEDULER, RISKGRID_DASK_TIMEOUT and
        RISKGRID_DASK_RETRIES."""
        dask = settings.engine == "dask"
        return cls(workers=settings.workers, scheduler=settings.dask_scheduler if dask else None,
                   timeout=settings.dask_timeout, retries=settings.dask_retries)


LOCAL = Engine()


def run_by_area(fn: Callable, events: IncidentIndex, petitions: pd.DataFrame, layout: Layout,
                config, engine: Engine = LOCAL) -> Parts:
    """``fn(events, petitions, layout, config)`` over blocks of areas, results stacked by row."""
    if engine.scheduler:
        return _on_cluster(fn, events, petitions, layout, config, engine.scheduler)
    enough = len(events.area) // max(MIN_EVENTS_PER_WORKER, 1)
    workers = max(1, min(engine.workers, len(layout.area_ids), enough))
    if workers == 1:
        return fn(events, petitions, layout, config)
    global _JOB
    _JOB = (fn, events, petitions, layout, config)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_run_block, _blocks(len(layout.area_ids), workers))
    finally:
        _JOB = None
    return _stack(parts)


def _blocks(n_areas: int, n_blocks: int) -> list[tuple[int, int]]:
    """``n_blocks`` contiguous (lo, hi) ranges of area rows, as equal as can be."""
    return list(itertools.pairwise(np.linspace(0, n_areas, n_blocks + 1).astype(int)))


def _part(layout: Layout, lo: int, hi: int) -> Layout:
    return Layout(area_ids=layout.area_ids[lo:hi], periods=layout.periods, period=layout.period)


def _stack(parts: list[Parts]) -> Parts:
    values = {name: np.concatenate([p[0][name] for p in parts]) for name in parts[0][0]}
    return values, parts[0][1]


def _run_block(block: tuple[int, int]) -> Parts:
    fn, events, petitions, layout, config = _JOB
    lo, hi = block
    return fn(events.for_areas(lo, hi), petitions, _part(layout, lo, hi), config)


def _on_cluster(fn: Callable, events: IncidentIndex, petitions: pd.DataFrame, layout: Layout,
                config, address: str) -> Parts:
    """The Dask adapter: scatter each block's events, map ``fn`` over the blocks, gather."""
    with connect(address) as client:
        blocks = _blocks(len(layout.area_ids), block_count(client, len(layout.area_ids)))
        shared = client.scatter(petitions, broadcast=True, hash=False)
        data = client.scatter([(events.for_areas(lo, hi), _part(layout, lo, hi))
                               for lo, hi in blocks], hash=False)
        tasks = client.map(_area_block, data, fn=fn, petitions=shared, config=config, pure=False)
        return _stack(client.gather(tasks))


def _area_block(block: tuple[IncidentIndex, Layout], fn: Callable, petitions: pd.DataFrame,
                config) -> Parts:
    events, layout = block
    return fn(events, petitions, layout, config)
