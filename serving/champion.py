"""The model the service serves: the registry's champion, with a local copy to fall back on.

Every champion the service loads is copied to DATA_DIR/NAME/serving/models/VERSION/ and
recorded in last_good.json, so a restart while the registry is unreachable serves the last
model that loaded, rather than nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow

from riskgrid.errors import InputError
from riskgrid.settings import Settings
from training import CHAMPION, RiskModel, fail_fast, model_name, tracking_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A risk model and where it came from."""

    model: RiskModel
    name: str
    version: str
    source: str  # "registry" or "local copy"
    loaded_at: str
    backtest: dict  # the training run's backtest.json (model, baselines, skill by horizon)

    def summary(self) -> dict:
        return {"name": self.name, "version": self.version, "source": self.source,
                "loaded_at": self.loaded_at}


def _folder(settings: Settings, experiment: str) -> Path:
    return settings.data_dir / experiment / "serving"


def champion_version(settings: Settings, experiment: str) -> str | None:
    """The registry's champion version (None when there is none); raises when unreachable."""
    client = mlflow.MlflowClient(tracking_uri(settings))
    try:
        # str, as LoadedModel.version: MLflow gives an int, which never equals "1"
        with fail_fast():  # a dead tracking server must fail fast, not after minutes of retries
            return str(client.get_model_version_by_alias(model_name(experiment),
                                                         CHAMPION).version)
    except mlflow.exceptions.RestException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    except mlflow.exceptions.MlflowException as exc:
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            return None
        raise


def fetch_champion(settings: Settings, experiment: str) -> LoadedModel:
    """Download the champion's native model, keep a local copy, and load it."""
    with fail_fast():
        return _fetch(settings, experiment)


def _fetch(settings: Settings, experiment: str) -> LoadedModel:
    client = mlflow.MlflowClient(tracking_uri(settings))
    name = model_name(experiment)
    version = client.get_model_version_by_alias(name, CHAMPION)
    target = _folder(settings, experiment) / "models" / str(version.version)
    if not (target / "model.json").is_file():
        with tempfile.TemporaryDirectory() as tmp:
            stored = client.get_model_version_download_uri(name, version.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{stored.rstrip('/')}/artifacts/risk_model", dst_path=tmp,
                tracking_uri=tracking_uri(settings))
            staging = target.with_name(f".{target.name}.partial")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(local, staging)
            shutil.copy(client.download_artifacts(version.run_id, "backtest.json", tmp),
                        staging / "backtest.json")
            staging.rename(target)  # a copy is complete or absent
    loaded = _load(target, name, str(version.version), "registry")
    _record(settings, experiment, loaded)
    return loaded


def last_good(settings: Settings, experiment: str) -> LoadedModel | None:
    """The last model the service loaded from the registry, from its local copy."""
    path = _folder(settings, experiment) / "last_good.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return _load(Path(record["path"]), record["name"], record["version"], "local copy")


def load_champion(settings: Settings, experiment: str) -> LoadedModel:
    """The champion from the registry, else the last good local copy; InputError if neither."""
    try:
        return fetch_champion(settings, experiment)
    except Exception as exc:  # noqa: BLE001 - any registry failure: use the local copy
        fallback = last_good(settings, experiment)
        if fallback is None:
            raise InputError(f"no champion model for {experiment}: the registry at "
                             f"{tracking_uri(settings)} answered {type(exc).__name__}: "
                             f"{str(exc)[:200]}; run riskgrid train and riskgrid promote "
                             "first") from None
        log.warning("registry unavailable (%s); serving the local copy of version %s",
                    type(exc).__name__, fallback.version)
        return fallback


def _load(folder: Path, name: str, version: str, source: str) -> LoadedModel:
    backtest_path = folder / "backtest.json"
    backtest = json.loads(backtest_path.read_text()) if backtest_path.is_file() else {}
    return LoadedModel(model=RiskModel.load(folder), name=name, version=version, source=source,
                       loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
                       backtest=backtest)


def _record(settings: Settings, experiment: str, loaded: LoadedModel) -> None:
    folder = _folder(settings, experiment)
    record = {"name": loaded.name, "version": loaded.version,
              "path": str((folder / "models" / loaded.version).resolve())}
    tmp = folder / ".last_good.json.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(folder / "last_good.json")

