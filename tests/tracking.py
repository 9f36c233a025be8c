"""A real MLflow tracking server for the tests, backed by a fresh PostgreSQL database.

``tracking_server(root)`` starts ``mlflow server`` on a free loopback port with a new database
from :func:`tests.postgres.fresh_database` as its backend store and ``root/mlartifacts`` as
its artifact store (proxied: clients up- and download through the server), and drops the
database afterwards. A test may ``kill()`` the server (SIGKILL, as a crash) and ``restart()``
it on the same port, database and artifacts. ``riskgrid(...)`` runs the CLI as a subprocess
with a clean MLflow environment, and ``write_tiny`` writes a tiny experiment and its inputs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from riskgrid.settings import Settings
from tests.postgres import fresh_database

BIN = Path(sys.executable).parent
# Small and fast: one horizon, one fold, 20 boosting rounds (tests/training/test_registry.py).
TINY = """name = "tiny"
sources = {}
[areas]
path = "unused.csv"
[features]
start = "2023-01-02"
end = "2023-12-25"
horizons = [1]
[training]
folds = 1
fold_step = 8
min_train_periods = 20
num_boost_round = 20
min_data_in_leaf = 20
risk_flag = "above_quantile"
flag_quantile = 0.8
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TrackingServer:
    """One ``mlflow server`` process group on 127.0.0.1:port."""

    def __init__(self, database_url: str, artifacts: Path, log: Path) -> None:
        self.database_url = database_url
        self.artifacts = artifacts
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Launch the server; :meth:`wait_ready` waits for it."""
        # Job execution starts a pool of huey consumers meant for GenAI jobs: on 2 cores it
        # adds half a minute to every start and riskgrid uses none of it.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "mlflow"), "server", "--backend-store-uri", self.database_url,
                 "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
                 "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent,
                start_new_session=True)

    def wait_ready(self, timeout: float = 300) -> None:
        """Until GET /health answers 200; raises with the log's tail if the server dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.kill()
        raise RuntimeError(f"mlflow server did not answer /health in {timeout:.0f} s:\n"
                           f"{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (the CLI and its uvicorn worker), as a crash."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, grace=30)

    def restart(self) -> None:
        """Start again on the same port, database and artifacts; wait until it answers."""
        self.kill()
        self.start()
        self.wait_ready()

    def _signal(self, signum: int, grace: float = 0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signum)
            process.wait(grace or None)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()


@contextmanager
def tracking_server(root: Path, wait: bool = True) -> Iterator[TrackingServer]:
    """A started server on a fresh database (dropped afterwards); ``wait=False`` returns at
    once, so the caller can prepare inputs while it boots and call ``wait_ready()`` later."""
    with fresh_database("riskgrid_mlflow") as url:
        server = TrackingServer(url, root / "mlartifacts", root / "mlflow-server.log")
        server.start()
        try:
            if wait:
                server.wait_ready()
            yield server
        finally:
            server.stop()


def riskgrid_env(settings: Settings, tracking_uri: str | None = None) -> dict[str, str]:
    """The test's environment without MLflow settings an earlier in-process test may have left
    (mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; serving.champion sets retries)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_HTTP_REQUEST_", "RISKGRID_"))
           and k != "MLFLOW_TRACKING_URI"}
    env |= {"RISKGRID_DATA_DIR": str(settings.data_dir), "RISKGRID_PSEUDONYM_SECRET": "test"}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def riskgrid(*args: str, env: dict[str, str], cwd: Path, timeout: float = 600,
             **popen) -> subprocess.CompletedProcess:
    """Run the riskgrid CLI to the end; text output captured."""
    return subprocess.run([str(BIN / "riskgrid"), *args], env=env, cwd=cwd, timeout=timeout,
                          capture_output=True, text=True, **popen)


def write_tiny(folder: Path, settings: Settings, seed: int = 0) -> Path:
    """tiny.toml and its clean tables and feature panel; returns the experiment file."""
    from riskgrid.experiment import load_experiment
    from tests.training.test_registry import write_inputs

    path = folder / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    write_inputs(load_experiment(path), settings, seed=seed)
    return path
