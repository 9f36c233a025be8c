"""Splitting the per-area step over worker processes gives exactly the in-process panel."""

from __future__ import annotations

import pandas as pd

from features import build_panel, engine
from features.engine import Engine
from riskgrid.experiment import FeaturesConfig
from tests.conftest import random_tables


def test_workers_build_the_same_panel(monkeypatch):
    monkeypatch.setattr(engine, "MIN_EVENTS_PER_WORKER", 0)
    areas, incidents, petitions = random_tables(n_areas=7)
    config = FeaturesConfig(start="2023-01-02", end="2023-12-25")
    alone = build_panel(areas, incidents, petitions, config, Engine(workers=1))
    split = build_panel(areas, incidents, petitions, config, Engine(workers=3))
    pd.testing.assert_frame_equal(alone.frame, split.frame)
    pd.testing.assert_frame_equal(alone.catalogue, split.catalogue)
