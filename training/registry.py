"""The MLflow edge: tracking store, logged runs, model registry, aliases and promotion."""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from features.errors import InputError
from features.settings import Settings
from training.metrics import LOWER_IS_BETTER
from training.riskmodel import RiskModel

CHAMPION, CHALLENGER = "champion", "challenger"
# Read once: mlflow.set_tracking_uri writes the variable back into the environment.
SHARED_STORE = os.environ.get("MLFLOW_TRACKING_URI")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)


def metric_key(name: str) -> str:
    """MLflow metric names allow no '@' or '%': pai@5% -> pai_at_5pct."""
    return name.replace("@", "_at_").replace("%", "pct")


def tracking_uri(settings: Settings) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a shared server), else SQLite in the data directory."""
    if SHARED_STORE:
        return SHARED_STORE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(settings.data_dir / 'mlflow.db').resolve()}"


def use_store(settings: Settings, experiment: str) -> MlflowClient:
    """Point MLflow at the store and select (creating if needed) the experiment."""
    mlflow.set_tracking_uri(tracking_uri(settings))
    if mlflow.get_experiment_by_name(experiment) is None:
        location = None
        if not SHARED_STORE:
            location = (settings.data_dir / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return MlflowClient()


def model_name(experiment: str) -> str:
    return f"riskgrid-{experiment}"


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc view of a :class:`RiskModel` (the service loads the native boosters instead)."""

    def load_context(self, context) -> None:
        self.model = RiskModel.load(Path(context.artifacts["risk_model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.predict(model_input)


@dataclass(frozen=True)
class Registered:
    run_id: str
    name: str
    version: str


def log_model(model: RiskModel, example: pd.DataFrame, registered_name: str) -> Registered:
    """Log the model with its signature and an input example, and register a new version."""
    # Counts as floats: integer columns cannot hold the missing values scoring may send.
    example = example.astype({c: "float64" for c in example.select_dtypes("number").columns})
    # Text as Python objects: mlflow 3.17's example writer trips over pandas 3 string arrays.
    example = example.astype({c: object for c in example.select_dtypes(["str", "string"])
                              .columns})
    example.columns = pd.Index(list(example.columns), dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        folder = model.save(Path(tmp) / "risk_model")
        output = model.predict(example)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=RiskModelPyfunc(), artifacts={"risk_model": str(folder)},
            signature=infer_signature(example, output), input_example=example.head(5),
            registered_model_name=registered_name, pip_requirements=_requirements())
    version = info.registered_model_version
    return Registered(run_id=mlflow.active_run().info.run_id, name=registered_name,
                      version=str(version))


@dataclass(frozen=True)
class TrainingRecord:
    """What one `riskgrid train` run logs."""

    config_text: str
    params: dict
    tags: dict
    backtest: dict
    per_fold: list[dict]
    comparison: pd.DataFrame
    importance: pd.DataFrame
    plots: dict[str, Path]


def log_training(settings: Settings, experiment: str, record: TrainingRecord, model: RiskModel,
                 example: pd.DataFrame) -> Registered:
    """One MLflow run: config, fingerprints, metrics, comparison, plots and the model.

    The new version gets the ``challenger`` alias only after everything was logged, so a
    failed run never touches the aliases.
    """
    client = use_store(settings, experiment)
    with mlflow.start_run(run_name=f"train {experiment}"):
        mlflow.set_tags(record.tags)
        mlflow.log_params(record.params)
        mlflow.log_text(record.config_text, "experiment.toml")
        mlflow.log_dict(record.backtest, "backtest.json")
        for level, gap in record.backtest.get("coherence", {}).items():
            mlflow.log_metrics({f"{key}_{level}": value for key, value in gap.items()})
        for h, metrics in record.backtest["model"].items():
            mlflow.log_metrics({f"{metric_key(k)}_h{h}": v for k, v in metrics.items()
                                if not math.isnan(v)})  # NaN metrics are not logged
        for row in record.per_fold:
            mlflow.log_metrics({f"fold_{metric_key(k)}_h{row['horizon']}": v
                                for k, v in row.items() if k not in ("fold", "horizon")
                                and not math.isnan(v)}, step=row["fold"])
        mlflow.log_dict(record.comparison.to_dict(orient="records"), "baseline_comparison.json")
        mlflow.log_text(record.comparison.to_csv(index=False), "baseline_comparison.csv")
        mlflow.log_text(record.importance.to_csv(index=False), "feature_importance.csv")
        for path in record.plots.values():
            mlflow.log_artifact(str(path), "plots")
        registered = log_model(model, example, model_name(experiment))
    set_challenger(client, registered)
    return registered


def _requirements() -> list[str]:
    """The model's runtime needs, pinned to what trained it (no slow environment probing)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in
            ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow", "holidays", "pyarrow")]


def set_challenger(client: MlflowClient, registered: Registered) -> None:
    client.set_registered_model_alias(registered.name, CHALLENGER, registered.version)


def version_metric(client: MlflowClient, name: str, alias: str, metric: str) -> tuple[str, float,
                                                                                       str] | None:
    """(version, metric value, backtest fingerprint) of the version behind ``alias``."""
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None
    run = client.get_run(version.run_id)
    return (version.version, run.data.metrics[metric_key(metric) + "_h1"],
            run.data.tags.get("backtest_fingerprint", ""))


def promote(settings: Settings, experiment: str, metric: str, reason: str,
            who: str | None = None) -> dict:
    """Move ``champion`` to the challenger if it beats the champion on the same backtest.

    Returns a record of the decision; raises InputError when the two were backtested on
    different data or folds (compare like with like: retrain the champion's experiment).
    """
    client = use_store(settings, experiment)
    name = model_name(experiment)
    challenger = version_metric(client, name, CHALLENGER, metric)
    if challenger is None:
        raise InputError(f"model {name} has no challenger; run riskgrid train first")
    champion = version_metric(client, name, CHAMPION, metric)
    record = {"model": name, "metric": metric, "challenger_version": challenger[0],
              "challenger_value": challenger[1], "who": who or getpass.getuser(),
              "when": datetime.now(UTC).isoformat(timespec="seconds"), "reason": reason}
    if champion is not None:
        if champion[0] == challenger[0]:
            return record | {"promoted": False, "why": "the challenger is already champion"}
        if champion[2] != challenger[2]:
            raise InputError(f"champion (version {champion[0]}) and challenger (version "
                             f"{challenger[0]}) were backtested on different data or folds; "
                             "retrain both on the same data before promoting")
        better = (challenger[1] < champion[1]) if metric in LOWER_IS_BETTER else (
            challenger[1] > champion[1])
        record |= {"champion_version": champion[0], "champion_value": champion[1]}
        if not better:
            return record | {"promoted": False,
                             "why": f"challenger does not beat the champion on {metric}"}
    client.set_registered_model_alias(name, CHAMPION, challenger[0])
    for key in ("who", "when", "reason"):
        client.set_model_version_tag(name, challenger[0], f"promoted_{key}", str(record[key]))
    history = _history(client, name) + [record | {"promoted": True}]
    client.set_registered_model_tag(name, "promotions", json.dumps(history[-10:]))
    return record | {"promoted": True, "why": "first champion" if champion is None else
                     f"challenger beats the champion on {metric}"}


def _history(client: MlflowClient, name: str) -> list[dict]:
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get("promotions", "[]"))
