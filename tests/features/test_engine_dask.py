"""The per-area step on a real Dask cluster gives exactly the in-process panel."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from features import build_panel
from features.engine import Engine
from riskgrid import InputError
from riskgrid.experiment import FeaturesConfig
from tests.conftest import random_tables

pytestmark = pytest.mark.distributed
CONFIG = FeaturesConfig(start="2023-01-02", end="2023-12-25")


def test_the_cluster_builds_the_in_process_panel(dask_cluster):
    areas, incidents, petitions = random_tables(n_areas=7)
    here = build_panel(areas, incidents, petitions, CONFIG)
    there = build_panel(areas, incidents, petitions, CONFIG,
                        Engine(scheduler=dask_cluster.scheduler_address))
    # 2 workers x 3 blocks: blocks of one and two areas, stacked back in order
    assert "area_block" in dask_cluster.scheduler.task_prefixes  # the blocks ran on the workers
    pd.testing.assert_frame_equal(here.frame, there.frame, check_exact=True)
    pd.testing.assert_frame_equal(here.catalogue, there.catalogue, check_exact=True)


def test_an_unreachable_scheduler_is_one_sentence_naming_the_setting():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    areas, incidents, petitions = random_tables(n_areas=3, n_incidents=200, n_petitions=50)
    with pytest.raises(InputError) as raised:
        build_panel(areas, incidents, petitions, CONFIG, Engine(scheduler=address))
    message = str(raised.value)
    assert "RISKGRID_DASK_SCHEDULER" in message and address in message
    assert "\n" not in message and ". " not in message and not message.endswith(".")
