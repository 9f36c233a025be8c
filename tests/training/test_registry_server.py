"""riskgrid against an MLflow tracking server backed by PostgreSQL, and that server dying."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from features.io import read_table
from riskgrid import Settings
from tests.tracking import (
    BIN,
    TrackingServer,
    riskgrid,
    riskgrid_env,
    tracking_server,
    write_tiny,
)

pytestmark = [pytest.mark.server, pytest.mark.postgres]
NAME = "riskgrid-tiny"


@dataclass
class Tracked:
    server: TrackingServer
    settings: Settings
    experiment: Path
    env: dict[str, str]
    trained: subprocess.CompletedProcess
    promoted: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Tracked:
    """The tiny experiment trained and promoted by the CLI through a PostgreSQL-backed server."""
    root = tmp_path_factory.mktemp("tracked")
    with tracking_server(root, wait=False) as server:
        settings = Settings(data_dir=root / "data", pseudonym_secret="test")
        experiment = write_tiny(root, settings)  # while the server boots
        server.wait_ready()
        env = riskgrid_env(settings, server.url)
        trained = riskgrid("train", str(experiment), env=env, cwd=root)
        promoted = riskgrid("promote", str(experiment), "--reason", "first model", env=env,
                            cwd=root)
        yield Tracked(server, settings, experiment, env, trained, promoted)


def champion_row(server: TrackingServer) -> tuple:
    """(version, run id, version status, run status, storage location), read from PostgreSQL."""
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT v.version, v.run_id, v.status, r.status, v.storage_location "
                "FROM registered_model_aliases a JOIN model_versions v "
                "ON v.name = a.name AND v.version = a.version "
                "JOIN runs r ON r.run_uuid = v.run_id "
                "WHERE a.name = :name AND a.alias = 'champion'"), {"name": NAME}).all()
            assert conn.dialect.name == "postgresql"
    finally:
        engine.dispose()
    assert len(rows) == 1, rows
    return tuple(rows[0])


def test_train_promote_and_serve_through_a_postgresql_backed_server(tracked, monkeypatch):
    assert tracked.trained.returncode == 0, tracked.trained.stderr[-3000:]
    assert f"registered {NAME} version 1 as challenger" in tracked.trained.stdout
    assert tracked.promoted.returncode == 0, tracked.promoted.stderr[-3000:]
    assert "promoted: first champion (challenger version 1)" in tracked.promoted.stdout
    version, run_id, version_status, run_status, location = champion_row(tracked.server)
    assert (version, version_status, run_status) == (1, "READY", "FINISHED")
    assert not (tracked.settings.data_dir / "mlflow.db").exists()  # no SQLite on the side

    from serving.champion import fetch_champion

    shared = tracked.settings.model_copy(update={"mlflow_tracking_uri": tracked.server.url})
    loaded = fetch_champion(shared, "tiny")
    assert (loaded.version, loaded.source) == ("1", "registry")
    # The service's local copy holds exactly the files the training run logged.
    logged = (tracked.server.artifacts / location.removeprefix("mlflow-artifacts:/")
              / "artifacts" / "risk_model")
    copy = tracked.settings.data_dir / "tiny" / "serving" / "models" / "1"
    assert sorted(p.name for p in logged.iterdir()) == sorted(
        p.name for p in copy.iterdir() if p.name != "backtest.json")
    for path in logged.iterdir():
        assert (copy / path.name).read_bytes() == path.read_bytes(), path.name
    # ... and scores like the logged pyfunc model, fetched through the server by its alias.
    client = MlflowClient(tracked.server.url)
    by_alias = client.get_model_version_by_alias(NAME, "champion").version
    pyfunc = mlflow.pyfunc.load_model(mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(NAME, by_alias),
        tracking_uri=tracked.server.url,
        dst_path=str(tracked.settings.data_dir.parent / "pyfunc")))
    panel = read_table(tracked.settings.data_dir / "tiny" / "features", "panel")
    rows = panel[panel["period"] >= panel["period"].max() - pd.Timedelta(weeks=3)]
    served = loaded.model.predict(rows)
    assert len(served) == len(rows) and served["expected_count"].notna().all()
    through_pyfunc = pyfunc.predict(rows).reset_index(drop=True)
    # pyfunc's schema enforcement hands the periods over in nanoseconds
    through_pyfunc["period"] = through_pyfunc["period"].astype(served["period"].dtype)
    pd.testing.assert_frame_equal(served, through_pyfunc)


def new_run(artifacts: Path, known: set[Path], process: subprocess.Popen) -> Path:
    """The artifact folder of the training run, once its first artifact was uploaded."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = set(artifacts.glob("*/*/artifacts/experiment.toml")) - known
        if found:
            return found.pop().parents[1]
        assert process.poll() is None, "training ended before its run logged anything"
        time.sleep(0.02)
    raise AssertionError("no training run appeared in 300 s")


def run(command: str, tracked: Tracked) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "riskgrid"), command, str(tracked.experiment)],
                            env=tracked.env, cwd=tracked.experiment.parent, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def sentence(process: subprocess.Popen, command: str, url: str) -> str:
    """The one line a failed command printed; fails on a traceback or anything else."""
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2, (out[-2000:], err[-3000:])
    assert "Traceback" not in err and err.count("\n") == 1, err[-3000:]
    assert err.startswith(f"error: riskgrid {command} could not use the MLflow tracking server "
                          f"at {url} (MLFLOW_TRACKING_URI): "), err
    assert ". " not in err and "registered" not in out
    return err


def test_training_fails_in_one_sentence_when_the_server_dies_and_the_champion_stays(tracked):
    before = champion_row(tracked.server)
    assert before[0] == 1
    known = set(tracked.server.artifacts.glob("*/*/artifacts/experiment.toml"))
    training, later = run("train", tracked), {}
    try:
        run_dir = new_run(tracked.server.artifacts, known, training)
        tracked.server.kill()  # mid-logging: the run exists, its model does not yet
        killed = time.monotonic()
        # While it is down, a new training stops before its backtest (the plots are written
        # after it), and promotion says what it knows.
        plots = sorted((tracked.settings.data_dir / "tiny" / "plots").iterdir())
        written = [path.stat().st_mtime_ns for path in plots]
        later |= {command: run(command, tracked) for command in ("train", "promote")}
        assert "the champion is unchanged" in sentence(training, "train", tracked.server.url)
        waited = time.monotonic() - killed
        assert "the champion is unchanged" in sentence(later["train"], "train",
                                                       tracked.server.url)
        assert "either unchanged or the challenger" in sentence(later["promote"], "promote",
                                                                tracked.server.url)
    finally:
        for process in (training, *later.values()):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert waited < 90, f"training took {waited:.0f} s to give up on a dead server"
    assert [path.stat().st_mtime_ns for path in plots] == written  # no backtest was run

    tracked.server.restart()
    client = MlflowClient(tracked.server.url)
    aliases = client.get_registered_model(NAME).aliases
    failed_run = run_dir.name
    assert aliases == {"champion": "1", "challenger": "1"}  # no alias moved to the failed run
    assert not client.search_model_versions(f"run_id = '{failed_run}'")
    assert client.get_run(failed_run).info.status == "RUNNING"  # marked KILLED by the next train
    assert champion_row(tracked.server) == before
