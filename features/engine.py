"""Engines for the per-area step: in this process, or split by areas over worker processes.

Areas are independent in the per-area step, so each worker takes a contiguous block of area
rows and the blocks are stacked back in order: the panel is the same for any worker count.
Workers are forked, so they share the parent's event arrays without copying them.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.events import IncidentIndex
from features.layout import Layout

MIN_EVENTS_PER_WORKER = 250_000  # below this, starting workers costs more than it saves
_JOB: tuple | None = None


def run_by_area(fn: Callable, events: IncidentIndex, petitions: pd.DataFrame, layout: Layout,
                config, workers: int) -> tuple[dict[str, np.ndarray], list]:
    """``fn(events, petitions, layout, config)`` over blocks of areas, results stacked by row."""
    enough = len(events.area) // max(MIN_EVENTS_PER_WORKER, 1)
    workers = max(1, min(workers, len(layout.area_ids), enough))
    if workers == 1:
        return fn(events, petitions, layout, config)
    global _JOB
    bounds = np.linspace(0, len(layout.area_ids), workers + 1).astype(int)
    _JOB = (fn, events, petitions, layout, config)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_run_block, list(itertools.pairwise(bounds)))
    finally:
        _JOB = None
    values = {name: np.concatenate([p[0][name] for p in parts]) for name in parts[0][0]}
    return values, parts[0][1]


def _run_block(block: tuple[int, int]) -> tuple[dict[str, np.ndarray], list]:
    fn, events, petitions, layout, config = _JOB
    lo, hi = block
    part = Layout(area_ids=layout.area_ids[lo:hi], periods=layout.periods, period=layout.period)
    return fn(events.for_areas(lo, hi), petitions, part, config)
