"""The panel built, kept and written on a Dask cluster: exactly the in-process snapshot."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from features import build_features, ingest, read_features
from features.io import read_clean
from features.panel_dataset import PART, cut_blocks, fingerprint_tables
from features.pipeline import fingerprint
from riskgrid import InputError, Settings, load_experiment
from tests.tracking import riskgrid, riskgrid_env

MAPPINGS = Path(__file__).resolve().parents[2] / "experiments" / "mappings"
EXPERIMENT = f"""name = "small"
[areas]
kind = "table"
path = "city/areas.csv"
[sources.incidents]
kind = "incidents"
path = "city/incidents.csv"
mapping = "{MAPPINGS / 'synthetic_city_incidents.toml'}"
[sources.petitions]
kind = "petitions"
path = "city/petitions.jsonl"
mapping = "{MAPPINGS / 'synthetic_city_petitions.toml'}"
[features]
period = "week"
horizons = [1]
windows = [4, 13]
"""
NOW = datetime(2023, 1, 10)  # the small city ends in 2022


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """The small synthetic city, ingested, and its feature snapshot built in this process."""
    from features.synthetic_city import write_city
    from tests.features.test_synthetic_city import SMALL

    root = tmp_path_factory.mktemp("panel_dataset")
    write_city(root / "city", config=SMALL)
    (root / "small.toml").write_text(EXPERIMENT, encoding="utf-8")
    settings = Settings(data_dir=root / "local", pseudonym_secret="test", now=NOW)
    ingest(load_experiment(root / "small.toml"), settings)
    build_features(load_experiment(root / "small.toml"), settings)
    return root


def clean_copy(city: Path, name: str) -> Settings:
    """A data directory holding the city's clean snapshot and no features yet."""
    data = city / name
    shutil.rmtree(data, ignore_errors=True)
    target = data / "small"
    target.mkdir(parents=True)
    source = city / "local" / "small"
    snapshot = os.readlink(source / "clean")
    shutil.copytree(source / snapshot, target / snapshot)
    (target / "clean").symlink_to(snapshot)
    return Settings(data_dir=data, pseudonym_secret="test", now=NOW)


def assert_same_snapshot(city: Path, settings: Settings) -> None:
    experiment = load_experiment(city / "small.toml")
    here = read_features(experiment.output_dir(Settings(data_dir=city / "local")))
    there = read_features(experiment.output_dir(settings))
    pd.testing.assert_frame_equal(here.panel, there.panel, check_exact=True)
    pd.testing.assert_frame_equal(here.catalogue, there.catalogue, check_exact=True)
    pd.testing.assert_frame_equal(here.counts, there.counts, check_exact=True)
    assert here.meta == there.meta  # the input fingerprint included


def test_blocks_cover_every_area_once_and_grow_in_number_with_the_city():
    blocks = cut_blocks(20, 6)
    assert (blocks[0].lo, blocks[0].hi, blocks[-1].hi) == (0, 3, 20)
    assert all(a.hi == b.lo for a, b in itertools.pairwise(blocks))
    assert len(cut_blocks(5, 6)) == 5 and len(cut_blocks(10_500, 6)) == 11


def test_the_fingerprint_read_piece_by_piece_is_the_whole_tables_one(city, monkeypatch):
    monkeypatch.setattr("features.panel_dataset.HASH_BATCH", 1000)  # several pieces a table
    clean = city / "local" / "small" / "clean"
    tables = read_clean(city / "local" / "small")
    assert fingerprint_tables(str(clean), ("areas", "incidents", "petitions")) == fingerprint(
        tables.areas, tables.incidents, tables.petitions)


@pytest.mark.distributed
def test_the_workers_write_the_in_process_snapshot_as_parts(city, dask_cluster):
    settings = clean_copy(city, "dask").model_copy(update={
        "engine": "dask", "dask_scheduler": dask_cluster.scheduler_address})
    report = build_features(load_experiment(city / "small.toml"), settings)
    parts = sorted(p.name for p in (report.path / "panel.parquet").iterdir())
    assert parts == [PART.format(i) for i in range(6)]  # 2 workers x 3 blocks of areas
    assert {"write_block", "block_values"} <= set(dask_cluster.scheduler.task_prefixes)
    assert_same_snapshot(city, settings)


class KillOnce:
    """A scheduler plugin: SIGKILL the worker holding the first block's per-area features as
    soon as it has them, so they are lost and must be computed again elsewhere."""

    name = "kill-once"

    def __init__(self, cluster) -> None:
        self.cluster, self.killed = cluster, None

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if self.killed or finish != "memory" or not str(key).startswith("block_values"):
            return
        holder = next(iter(self.cluster.scheduler.tasks[key].who_has)).address
        for nanny in self.cluster.workers.values():
            if nanny.worker_address == holder:
                self.killed = holder
                os.kill(nanny.process.process.pid, signal.SIGKILL)


@pytest.mark.distributed
def test_a_worker_killed_during_riskgrid_features_changes_nothing(city, dask_cluster):
    settings = clean_copy(city, "killed")
    plugin = KillOnce(dask_cluster)
    dask_cluster.scheduler.add_plugin(plugin)
    try:
        env = riskgrid_env(settings) | {"RISKGRID_ENGINE": "dask", "RISKGRID_NOW": "2023-01-10",
                                        "RISKGRID_DASK_SCHEDULER": dask_cluster.scheduler_address}
        done = riskgrid("features", str(city / "small.toml"), env=env, cwd=city, timeout=300)
    finally:
        dask_cluster.scheduler.remove_plugin(name=plugin.name)
    assert plugin.killed, "no worker was killed"
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_snapshot(city, settings)
    dask_cluster.wait_for_workers(2)  # the nanny started it again, for the tests that follow


@pytest.mark.distributed
def test_a_build_past_the_time_limit_is_one_sentence_and_keeps_the_snapshot(city, dask_cluster):
    settings = clean_copy(city, "late")
    experiment = load_experiment(city / "small.toml")
    build_features(experiment, settings)  # the previous snapshot, in this process
    link = experiment.output_dir(settings) / "features"
    before = os.readlink(link)
    late = settings.model_copy(update={"engine": "dask", "dask_timeout": 0.001,
                                       "dask_scheduler": dask_cluster.scheduler_address})
    with pytest.raises(InputError) as raised:
        build_features(experiment, late)
    message = str(raised.value)
    assert "RISKGRID_DASK_TIMEOUT" in message and "\n" not in message and ". " not in message
    assert os.readlink(link) == before
    assert {p.name for p in link.parent.iterdir() if "features" in p.name} == {
        "features", before}  # nothing left of the failed build
