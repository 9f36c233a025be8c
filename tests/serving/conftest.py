"""A real service on loopback: a tiny city trained, promoted and served by `riskgrid serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from riskgrid import Settings
from riskgrid.experiment import load_experiment
from serving.store import Store, open_store
from tests.training.test_registry import write_inputs
from training import registry, save_backtest_predictions
from training.pipeline import train

BIN = Path(sys.executable).parent
TRAINING = """
[training]
folds = 1
fold_step = 8
min_train_periods = 20
num_boost_round = {rounds}
learning_rate = {rate}
num_leaves = {leaves}
min_data_in_leaf = {leaf}
risk_flag = "above_quantile"
flag_quantile = 0.8
{extra}
"""
SANE = {"rounds": 20, "rate": 0.05, "leaves": 31, "leaf": 20, "extra": ""}
# Overfits, worse out of sample: nothing chosen on the inner validation slice, no penalty.
WILD = {"rounds": 150, "rate": 1.0, "leaves": 64, "leaf": 1,
        "extra": "choose_rounds = false\nshrinkage_weights = [1.0]\nlambda_l2 = 0.0\n"
                 "min_sum_hessian_in_leaf = 0.0"}
EXPERIMENT = """name = "tiny"
sources = {}
[areas]
path = "unused.csv"
[features]
start = "2023-01-02"
end = "2023-12-25"
horizons = [1, 2]
[warnings]
blue = 0.05
yellow = 0.1
orange = 0.2
red = 0.3
alert_budget = 0.34
"""
SCOPES = ("city", "D0", "S0", "S1", "C0", "A0")
SILENT, SILENT_SINCE = "S1", "2023-12-11"  # the street whose records stop coming (data alarm)


@dataclass
class Server:
    url: str
    settings: Settings
    experiment: Path
    store: Store
    process: subprocess.Popen
    log: Path
    keys: dict[str, str]  # scope -> token (viewer), plus "analyst" (city)

    def post(self, endpoint: str, body: dict | None = None, key: str | None = "city",
             **kwargs) -> httpx.Response:
        headers = {} if key is None else {"Authorization": f"Bearer {self.keys.get(key, key)}"}
        return httpx.post(f"{self.url}/{endpoint}", json=body if body is not None else {},
                          headers=headers, timeout=120, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_experiment(folder: Path, training: dict) -> Path:
    path = folder / "tiny.toml"
    path.write_text(EXPERIMENT + TRAINING.format(**training), encoding="utf-8")
    return path


def train_and_promote(path: Path, settings: Settings, reason: str) -> dict:
    exp = load_experiment(path)
    report = train(exp, settings, path.read_text())
    save_backtest_predictions(report.result.predictions, exp.output_dir(settings))
    return registry.promote(settings, exp.name, exp.training.primary_metric, reason, who="test")


def start(experiment: Path, settings: Settings, log: Path, **env: str) -> tuple[
        subprocess.Popen, str]:
    port = free_port()
    environment = {**os.environ, "RISKGRID_DATA_DIR": str(settings.data_dir),
                   "RISKGRID_MODEL_POLL_SECONDS": "1", "RISKGRID_MAX_BATCH_AREAS": "5",
                   "RISKGRID_MAX_BODY_BYTES": "1000000",
                   "BENTOML_HOME": str(settings.data_dir.parent / "bentoml"), **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "riskgrid"), "serve", str(experiment), "--port", str(port)],
            env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a start on a machine busy with other work is slow
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"the service did not get ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class TrainedCity:
    """The tiny city's inputs, trained and promoted once per session."""

    root: Path
    settings: Settings
    experiment: Path


@pytest.fixture(scope="session")
def trained_city(tmp_path_factory) -> TrainedCity:
    root = tmp_path_factory.mktemp("served")
    settings = Settings(data_dir=root / "data", pseudonym_secret="test")
    experiment = write_experiment(root, WILD)
    write_inputs(load_experiment(experiment), settings)
    train_and_promote(experiment, settings, "first model")
    return TrainedCity(root, settings, experiment)


def silence(settings: Settings, street: str, since: str) -> None:
    """No record of ``street``'s grids reached the clean tables from ``since`` on (an export
    that lost them): the service's data alarms see it; the features, built before, do not."""
    import pandas as pd

    clean = settings.data_dir / "tiny" / "clean"
    areas = pd.read_parquet(clean / "areas.parquet")
    grids = set(areas.loc[areas["street_id"] == street, "area_id"])
    for table, time_column in (("incidents", "reported_at"), ("petitions", "filed_at")):
        rows = pd.read_parquet(clean / f"{table}.parquet")
        lost = rows["area_id"].isin(grids) & (rows[time_column] >= pd.Timestamp(since))
        rows[~lost].to_parquet(clean / f"{table}.parquet", index=False)


@pytest.fixture(scope="session")
def server(trained_city: TrainedCity) -> Server:
    root, settings, experiment = trained_city.root, trained_city.settings, trained_city.experiment
    silence(settings, SILENT, SILENT_SINCE)
    store = open_store(settings.store_url())
    keys = {scope: store.create_key("viewer", scope, f"test {scope}")[1] for scope in SCOPES}
    keys["analyst"] = store.create_key("analyst", "city", "test analyst")[1]
    log = root / "service.log"
    process, url = start(experiment, settings, log)
    yield Server(url=url, settings=settings, experiment=experiment, store=store,
                 process=process, log=log, keys=keys)
    stop(process)
