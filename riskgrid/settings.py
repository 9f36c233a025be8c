"""The one settings object: environment variables with the RISKGRID_ prefix."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings, read once at the edge and passed down.

    Every field can be set as an environment variable, e.g. ``RISKGRID_DATA_DIR=/srv/riskgrid``.
    """

    model_config = SettingsConfigDict(env_prefix="RISKGRID_", extra="forbid",
                                      populate_by_name=True)

    data_dir: Path = Field(Path("data"), description="Root of every table the project writes.")
    pseudonym_secret: str | None = Field(
        None,
        description="Key of the keyed hash that replaces personal data at ingest. When unset, a "
        "random key is created once and kept in DATA_DIR/.pseudonym_secret.",
    )
    now: datetime | None = Field(
        None, description="Clock used to reject future timestamps (default: the real time)."
    )
    workers: int = Field(
        1, ge=1,
        description="Worker processes for the per-area feature step. On 2 cores the transfer "
        "of results costs more than the second worker saves (bench/features_throughput.py).",
    )
    engine: Literal["local", "dask"] = Field(
        "local",
        description="Where the per-area feature step and model fitting run: in this process "
        "(local) or on the Dask cluster at dask_scheduler (dask). See docs/distributed.md.",
    )
    dask_scheduler: str | None = Field(
        None,
        description="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786; required "
        "when engine is dask.",
    )
    dask_timeout: float = Field(
        3600.0, gt=0,
        description="Seconds a Dask cluster may take for one step (the panel's blocks, a "
        "training sample) before the command stops with one sentence and leaves the previous "
        "snapshot as it was.",
    )
    dask_retries: int = Field(
        2, ge=0,
        description="Times a Dask task that raised (a file briefly unreadable, a worker out of "
        "memory) is run again before the step fails; a task whose worker died is run again by "
        "the scheduler on another worker.",
    )
    future_tolerance_hours: float = Field(
        24.0, description="How far past 'now' a timestamp may lie before it counts as future."
    )

    experiment: Path = Field(
        Path("experiments/synthetic_city.toml"), description="Experiment file the service serves."
    )
    port: int = Field(3000, ge=1, le=65535, description="Port of `riskgrid serve`.")
    service_workers: int = Field(
        1, ge=1, le=64, description="Worker processes of the scoring service (each holds the "
        "model and the panel)."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the service's store (API keys, audit log, warnings), e.g. "
        "postgresql+psycopg://user@host/riskgrid. Default: SQLite at DATA_DIR/riskgrid.db.",
    )
    max_batch_areas: int = Field(
        5000, ge=1, description="Most areas one API request may ask for (larger: 413)."
    )
    max_body_bytes: int = Field(
        16 * 2**20, ge=1024, description="Largest request body the service reads (larger: 413)."
    )
    model_poll_seconds: float = Field(
        30.0, gt=0, description="How often the service checks the registry for a new champion."
    )
    override_refresh_seconds: float = Field(
        2.0, ge=0, description="At most this long before /score shows a level override set by "
        "the command line or another worker (the worker that sets one shows it at once)."
    )

    mlflow_tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "RISKGRID_MLFLOW_TRACKING_URI"),
        description="MLflow tracking server shared by training and the service, e.g. "
        "http://mlflow.internal:5000 (MLflow's own variable). Default: SQLite at "
        "DATA_DIR/mlflow.db.",
    )

    @model_validator(mode="after")
    def _scheduler_for_dask(self) -> Settings:
        if self.engine == "dask" and not self.dask_scheduler:
            raise ValueError("RISKGRID_ENGINE=dask needs RISKGRID_DASK_SCHEDULER, the address "
                             "of a running Dask scheduler (e.g. tcp://10.0.0.5:8786)")
        return self

    def store_url(self) -> str:
        """The service store's SQLAlchemy URL (SQLite in the data directory by default)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'riskgrid.db').resolve()}"

    def clock(self) -> datetime:
        return self.now or datetime.now()

    def secret(self) -> bytes:
        """The pseudonymization key, creating a private one in the data directory if unset."""
        if self.pseudonym_secret:
            return self.pseudonym_secret.encode()
        path = self.data_dir / ".pseudonym_secret"
        if not path.exists():
            # Written whole under another name, then linked into place: a run killed midway
            # leaves no empty key, and of two first runs at once the first link wins.
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".pseudonym_secret.{secrets.token_hex(4)}")
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(staged, path)
            except FileExistsError:
                pass
            finally:
                staged.unlink()
        return path.read_text().strip().encode()
