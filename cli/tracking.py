"""`riskgrid mlflow`: the MLflow UI on the project's own tracking store."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import app, console, settings_of
from riskgrid import InputError

if TYPE_CHECKING:
    from riskgrid import Settings


def ui_command(settings: Settings, host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line for the data directory's store (runs, registry and
    artifacts all under DATA_DIR, whatever the current folder is)."""
    store = settings.data_dir / "mlflow.db"
    if not store.is_file():
        raise InputError(f"there is no MLflow store at {store} yet; riskgrid train "
                         "experiments/NAME.toml logs the first run (or set RISKGRID_DATA_DIR "
                         "to the data directory that has one)")
    uri = f"sqlite:///{store.resolve()}"
    artifacts = (settings.data_dir / "mlartifacts").resolve()
    mlflow = Path(sys.executable).with_name("mlflow")
    return [str(mlflow), "ui", "--backend-store-uri", uri, "--registry-store-uri", uri,
            "--artifacts-destination", artifacts.as_uri(), "--host", host, "--port", str(port),
            "--workers", "1"]


@app.command("mlflow", epilog="Example: riskgrid mlflow --port 5001")
def mlflow_ui(ctx: typer.Context,
              host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
              port: Annotated[int, typer.Option(help="Port of the UI.")] = 5000) -> None:
    """Open the MLflow UI on the project's tracking store and print its address."""
    settings = settings_of(ctx)
    if settings.mlflow_tracking_uri:  # a shared tracking server already has its UI
        console.print(f"the runs are on the tracking server {settings.mlflow_tracking_uri} "
                      "(MLFLOW_TRACKING_URI): open that address in a browser", highlight=False)
        return
    command = ui_command(settings, host, port)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    console.print(f"MLflow UI for {command[3]}: open http://{shown}:{port} (Ctrl-C stops it)",
                  highlight=False, soft_wrap=True)
    sys.stdout.flush()
    # No job runner: riskgrid uses none of MLflow's GenAI jobs, and it slows the start.
    os.execve(command[0], command, {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
