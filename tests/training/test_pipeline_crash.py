"""kill -9 of `riskgrid train`: nothing half-written is promoted, and a re-run gives the same model.

The store is the default one (SQLite and a folder in the data directory). Two kills come from
outside, at a moment the test observes; one comes from inside the process, at an exact line
(``KILLER`` replaces ``mlflow.end_run`` with a SIGKILL of the process itself), because the
window between registering a version and ending its run is too short to hit from outside.
MLflow and SQLite run for real in every case.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from features.io import read_table
from riskgrid import InputError, Settings
from tests.tracking import BIN, riskgrid, riskgrid_env, write_tiny
from training import registry
from training.riskmodel import RiskModel

pytestmark = pytest.mark.slow
NAME = "riskgrid-tiny"
METRIC = "poisson_deviance"
KILLER = """
import os, signal, sys

import mlflow

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

mlflow.end_run = die  # the version is registered; the run is not FINISHED yet
sys.argv[0] = "riskgrid"
from cli import main
main()
"""


@dataclass
class Crashes:
    settings: Settings
    experiment: Path
    first: str  # version of the uninterrupted run, promoted to champion
    killed_runs: dict[str, str] = field(default_factory=dict)  # kill point -> run id
    after_kills: dict = field(default_factory=dict)  # what the store looked like
    promoted_after_kills: dict = field(default_factory=dict)
    rerun: subprocess.CompletedProcess | None = None


def client(settings: Settings) -> MlflowClient:
    registry.use_store(settings, "tiny")
    return MlflowClient()


def runs(settings: Settings) -> dict[str, str]:
    """Each training's run and its status (the baselines' child runs left out)."""
    c = client(settings)
    found = c.search_runs([c.get_experiment_by_name("tiny").experiment_id], max_results=1000)
    return {r.info.run_id: r.info.status for r in found
            if "mlflow.parentRunId" not in r.data.tags}


def start_train(experiment: Path, env: dict, *prefix: str) -> subprocess.Popen:
    command = [*prefix] if prefix else [str(BIN / "riskgrid")]
    return subprocess.Popen([*command, "train", str(experiment)], env=env,
                            cwd=experiment.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "training ended before the kill point"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(60) == -signal.SIGKILL


@pytest.fixture(scope="module")
def crashes(tmp_path_factory) -> Crashes:
    root = tmp_path_factory.mktemp("crash")
    settings = Settings(data_dir=root / "data", pseudonym_secret="test")
    experiment = write_tiny(root, settings)
    env = riskgrid_env(settings)
    first = riskgrid("train", str(experiment), env=env, cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    promoted = registry.promote(settings, "tiny", METRIC, "first model", who="test")
    assert promoted["promoted"], promoted
    crashes = Crashes(settings, experiment, str(promoted["challenger_version"]))

    artifacts = settings.data_dir / "mlartifacts"
    seen = set(runs(settings))
    # 1. Early: importing and backtesting, before any MLflow call.
    process = start_train(experiment, env)
    start = time.monotonic()
    kill_when(process, lambda: time.monotonic() - start > 3)
    assert set(runs(settings)) == seen
    # 2. During logging: the run exists and has its first artifact, the model is not logged.
    known = set(artifacts.glob("*/artifacts/experiment.toml"))
    process = start_train(experiment, env)
    kill_when(process, lambda: set(artifacts.glob("*/artifacts/experiment.toml")) - known)
    (crashes.killed_runs["logging"],) = set(runs(settings)) - seen
    seen = set(runs(settings))
    # 3. After the version is registered, before its run is ended.
    process = start_train(experiment, env, sys.executable, "-c", KILLER)
    assert process.wait(600) == -signal.SIGKILL
    (crashes.killed_runs["registered"],) = set(runs(settings)) - seen

    c = client(settings)
    crashes.after_kills = {
        "aliases": {a: str(v) for a, v in c.get_registered_model(NAME).aliases.items()},
        "statuses": runs(settings),
        "versions": {str(v.version): (v.run_id, v.status) for v in
                     c.search_model_versions(f"name = '{NAME}'")}}
    crashes.promoted_after_kills = registry.promote(settings, "tiny", METRIC, "after the kills",
                                                    who="test")
    crashes.rerun = riskgrid("train", str(experiment), env=env, cwd=root)
    return crashes


def test_killed_trainings_move_no_alias_and_leave_their_runs_unfinished(crashes):
    state = crashes.after_kills
    assert state["aliases"] == {"champion": crashes.first, "challenger": crashes.first}
    logging_run, registered_run = (crashes.killed_runs[k] for k in ("logging", "registered"))
    assert state["statuses"][registered_run] == "RUNNING"
    # The third training, starting, found the second's run orphaned and closed it.
    assert state["statuses"][logging_run] == "KILLED"
    by_run = {run_id: (version, status) for version, (run_id, status) in
              state["versions"].items()}
    assert logging_run not in by_run  # killed before its model was logged
    version, status = by_run[registered_run]  # a complete-looking version of an unfinished run
    assert status == "READY" and version != crashes.first
    record = crashes.promoted_after_kills
    assert not record["promoted"] and str(record["challenger_version"]) == crashes.first


def test_promote_refuses_a_challenger_whose_run_did_not_finish(crashes):
    c = client(crashes.settings)
    half_done = next(v for v, (run, _) in crashes.after_kills["versions"].items()
                     if run == crashes.killed_runs["registered"])
    current = str(c.get_model_version_by_alias(NAME, "challenger").version)
    c.set_registered_model_alias(NAME, "challenger", half_done)  # by hand, e.g. in the UI
    try:
        with pytest.raises(InputError, match=rf"challenger version {half_done} of {NAME} \(run "
                           r"\w+\) is not complete: its run is (RUNNING|KILLED)"):
            registry.promote(crashes.settings, "tiny", METRIC, "by hand", who="test")
    finally:
        c.set_registered_model_alias(NAME, "challenger", current)
    assert str(c.get_model_version_by_alias(NAME, "champion").version) == crashes.first


def predictions(settings: Settings, version: str, tmp: Path) -> pd.DataFrame:
    uri = client(settings).get_model_version_download_uri(NAME, version)
    folder = download_artifacts(artifact_uri=f"{uri}/artifacts/risk_model", dst_path=str(tmp))
    panel = read_table(settings.data_dir / "tiny" / "features", "panel")
    return RiskModel.load(Path(folder)).predict(panel)


def test_a_rerun_completes_closes_the_killed_runs_and_matches_the_first_model(crashes,
                                                                              tmp_path):
    assert crashes.rerun.returncode == 0, crashes.rerun.stderr[-3000:]
    c = client(crashes.settings)
    rerun = str(c.get_model_version_by_alias(NAME, "challenger").version)
    assert f"registered {NAME} version {rerun} as challenger" in crashes.rerun.stdout
    assert rerun not in crashes.after_kills["versions"]
    statuses = runs(crashes.settings)
    for point, run_id in crashes.killed_runs.items():
        assert statuses[run_id] == "KILLED", point
        assert "marked KILLED by a later riskgrid train" in c.get_run(run_id).data.tags[
            "riskgrid.note"]
    first, again = (predictions(crashes.settings, v, tmp_path / v) for v in
                    (crashes.first, rerun))
    assert len(first) > 100 and first["expected_count"].std() > 0
    pd.testing.assert_frame_equal(first, again)  # seeded and deterministic: identical
    metrics = [c.get_run(c.get_model_version(NAME, v).run_id).data.metrics
               for v in (crashes.first, rerun)]
    assert metrics[0] == metrics[1]
    assert str(c.get_model_version_by_alias(NAME, "champion").version) == crashes.first


def test_promote_refuses_a_challenger_whose_model_files_are_truncated(crashes):
    c = client(crashes.settings)
    challenger = str(c.get_model_version_by_alias(NAME, "challenger").version)
    uri = c.get_model_version_download_uri(NAME, challenger)
    booster = Path(uri.removeprefix("file://")) / "artifacts" / "risk_model" / "count_h1.txt"
    whole = booster.read_bytes()
    booster.write_bytes(whole[: len(whole) // 2])  # as a copy cut short would leave it
    try:
        with pytest.raises(InputError, match=rf"challenger version {challenger} of {NAME} "
                           r"\(run \w+\) has incomplete model files at .*risk_model/"
                           r"count_h1.txt differs from the file training wrote"):
            registry.promote(crashes.settings, "tiny", METRIC, "truncated", who="test")
    finally:
        booster.write_bytes(whole)
    assert str(c.get_model_version_by_alias(NAME, "champion").version) == crashes.first
    record = registry.promote(crashes.settings, "tiny", METRIC, "whole again", who="test")
    assert "already champion" in record["why"] or "does not beat" in record["why"]
