"""`riskgrid mlflow`: the MLflow UI opened on the data directory's own store, from anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import mlflow
import pytest

from riskgrid import Settings
from tests.cli.test_app import RISKGRID, riskgrid
from tests.serving.conftest import free_port
from training import registry

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-output" / "mlflow-compare.png"


def screenshot_compare(url: str, experiment_id: str, run_ids: list[str]) -> None:
    """MLflow's compare view of the runs, saved to test-output/mlflow-compare.png."""
    from playwright.sync_api import sync_playwright

    query = urlencode({"runs": json.dumps(run_ids), "experiments": json.dumps([experiment_id])})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/#/compare-runs?{query}")
            page.get_by_text("baseline ma_13").first.wait_for()
            # the metrics table: one row per metric, one column per run
            page.get_by_text("mae_h1").last.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_without_a_store_it_says_to_train_first(tmp_path):
    done = riskgrid("mlflow", data_dir=tmp_path / "data")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no MLflow store" in done.stderr and "riskgrid train" in done.stderr


@pytest.mark.server
def test_the_ui_serves_the_projects_runs_and_prints_its_address(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_secret="test")
    registry.use_store(settings, "tiny")
    tags = {"experiment": "tiny", "backtest_fingerprint": "b1"}
    with mlflow.start_run(run_name="train tiny", tags=tags | {"forecaster": "model"}) as run:
        mlflow.log_metrics({"poisson_deviance_h1": 1.25, "mae_h1": 0.9})
        registry.log_baselines({"baselines": {
            "ma_13": {"1": {"poisson_deviance": 1.41, "mae": 1.02}},
            "long_run_mean": {"1": {"poisson_deviance": 1.38, "mae": 0.97}}}}, tags)
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
        by_name = {r["info"]["run_name"]: r for r in found["runs"]}
        assert set(by_name) == {"train tiny", "baseline ma_13", "baseline long_run_mean"}
        assert by_name["train tiny"]["info"]["run_id"] == run.info.run_id
        deviance = {name: next(m["value"] for m in r["data"]["metrics"]
                               if m["key"] == "poisson_deviance_h1")
                    for name, r in by_name.items()}
        assert deviance == {"train tiny": 1.25, "baseline ma_13": 1.41,
                            "baseline long_run_mean": 1.38}
        assert not (elsewhere / "mlruns").exists() and not (elsewhere / "mlflow.db").exists()
        if CHROMIUM.exists():  # the compare view a data scientist opens, for the README
            screenshot_compare(url, experiment["experiment"]["experiment_id"],
                               [r["info"]["run_id"] for r in by_name.values()])
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
