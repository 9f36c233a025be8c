"""`riskgrid mlflow`: the MLflow UI opened on the data directory's own store, from anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import mlflow
import pytest

from riskgrid import Settings
from tests.cli.test_app import RISKGRID, riskgrid
from tests.serving.conftest import free_port
from training import registry


def test_without_a_store_it_says_to_train_first(tmp_path):
    done = riskgrid("mlflow", data_dir=tmp_path / "data")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no MLflow store" in done.stderr and "riskgrid train" in done.stderr


@pytest.mark.server
def test_the_ui_serves_the_projects_runs_and_prints_its_address(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_secret="test")
    registry.use_store(settings, "tiny")
    with mlflow.start_run(run_name="train tiny") as run:
        mlflow.log_metric("poisson_deviance_h1", 1.25)
    elsewhere = tmp_path / "elsewhere"  # not the checkout, not the data directory
    elsewhere.mkdir()
    port = free_port()
    env = {**os.environ, "RISKGRID_DATA_DIR": str(settings.data_dir.resolve())}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        process = subprocess.Popen([RISKGRID, "mlflow", "--port", str(port)], cwd=elsewhere,
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert f"open http://localhost:{port}" in log.read_text()
        experiment = httpx.get(f"{url}/api/2.0/mlflow/experiments/get-by-name",
                               params={"experiment_name": "tiny"}, timeout=30).json()
        found = httpx.post(f"{url}/api/2.0/mlflow/runs/search", timeout=30, json={
            "experiment_ids": [experiment["experiment"]["experiment_id"]]}).json()
        (only,) = found["runs"]
        assert only["info"]["run_id"] == run.info.run_id
        assert only["data"]["metrics"][0]["value"] == 1.25
        assert not (elsewhere / "mlruns").exists() and not (elsewhere / "mlflow.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
