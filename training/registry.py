"""The MLflow edge: tracking store, logged runs, model registry, aliases and promotion."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import math
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from riskgrid.errors import InputError
from riskgrid.settings import Settings
from training.metrics import LOWER_IS_BETTER
from training.promotions import describe, version_tags
from training.riskmodel import RiskModel

CHAMPION, CHALLENGER = "champion", "challenger"
logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)
# urllib3 prints a "Retrying (Retry(total=...))" line per retry; a failure ends in one sentence.
logging.getLogger("urllib3").setLevel(logging.ERROR)
# How training and promotion talk to a tracking server, unless MLFLOW_HTTP_REQUEST_* are set:
# a failing request is retried 4 times, 0, 2, 4 and 8 s apart (plus up to 1 s of jitter each),
# so a blip of up to ~15 s survives and an outage fails within ~15 s (a hung server: 30 s a
# try). MLflow's own defaults (7 retries, 120 s) would keep a dead server's `riskgrid train`
# waiting for minutes. The service uses SERVICE_REQUESTS: a dead server must fail fast, and the
# service falls back to its local copy of the model.
TRAINING_REQUESTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
                     "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                     "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
                     "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
SERVICE_REQUESTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
# Who started a run, so a later `riskgrid train` can tell runs of killed processes (KILLED).
HOST_TAG, PID_TAG = "riskgrid.host", "riskgrid.pid"
# What a run forecasts with: "model", or a baseline's name in the child runs (docs/tracking.md).
FORECASTER_TAG = "forecaster"


def metric_key(name: str) -> str:
    """MLflow metric names allow no '@' or '%': pai@5% -> pai_at_5pct."""
    return name.replace("@", "_at_").replace("%", "pct")


@contextlib.contextmanager
def _requests(values: dict[str, str], force: bool = False) -> Iterator[None]:
    """MLflow's HTTP settings for the block; unless forced, variables already set stay."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if force or before[k] is None})
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def fail_fast() -> contextlib.AbstractContextManager[None]:
    """The service's MLflow HTTP settings for a block (variables the user set stay)."""
    return _requests(SERVICE_REQUESTS)


def tracking_uri(settings: Settings) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a shared server), else SQLite in the data directory."""
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(settings.data_dir / 'mlflow.db').resolve()}"


def use_store(settings: Settings, experiment: str) -> MlflowClient:
    """Point MLflow at the store and select (creating if needed) the experiment."""
    mlflow.set_tracking_uri(tracking_uri(settings))
    if not settings.mlflow_tracking_uri:
        # MLflow writes the URI into the environment for its subprocesses; a local store's
        # URI is this process's own and must not pass for a shared server later.
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = None
        if not settings.mlflow_tracking_uri:
            location = (settings.data_dir / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return MlflowClient()


def check_store(settings: Settings, experiment: str) -> None:
    """Reach the store (creating the experiment) before a long step that ends by logging."""
    with _requests(TRAINING_REQUESTS):
        use_store(settings, experiment)


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
        write_manifest(folder)
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

    The run is ended (FINISHED) before the new version gets the ``challenger`` alias, so a
    failed or killed run never touches the aliases. Runs of earlier `riskgrid train`
    processes on this host that died without ending are marked KILLED first.
    """
    user_retries = "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in os.environ
    with _requests(TRAINING_REQUESTS):
        client = use_store(settings, experiment)
        close_orphans(client, experiment)
        owner = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
        mlflow.start_run(run_name=f"train {experiment}", tags=owner)
        try:
            _log_record(record, experiment)
            log_baselines(record.backtest, owner | _run_tags(record, experiment))
            registered = log_model(model, example, model_name(experiment))
        except BaseException:
            _end_failed_run(one_try=not user_retries)
            raise
        mlflow.end_run()
        set_challenger(client, registered)
    return registered


def _run_tags(record: TrainingRecord, experiment: str) -> dict[str, str]:
    """Tags every run of a training carries, so runs filter by experiment and fingerprints."""
    return {"experiment": experiment,
            **{k: str(record.tags[k]) for k in ("data_fingerprint", "backtest_fingerprint")
               if k in record.tags}}


def _log_record(record: TrainingRecord, experiment: str) -> None:
    mlflow.set_tags(record.tags | _run_tags(record, experiment) | {FORECASTER_TAG: "model"})
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


def log_baselines(backtest: dict, tags: dict[str, str]) -> None:
    """Under the active run, one child run per baseline of ``backtest`` (its JSON layout) with
    the model's metric names, so MLflow's compare view and charts put the model and each
    baseline side by side."""
    for name, by_horizon in backtest.get("baselines", {}).items():
        with mlflow.start_run(run_name=f"baseline {name}", nested=True,
                              tags=tags | {FORECASTER_TAG: name}):  # ended FAILED on error
            for h, metrics in by_horizon.items():
                mlflow.log_metrics({f"{metric_key(k)}_h{h}": v for k, v in metrics.items()
                                    if not math.isnan(v)})


def _end_failed_run(one_try: bool) -> None:
    """Mark the run FAILED; after riskgrid's retries were waited out once, with one try only."""
    with _requests({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, force=one_try), \
            contextlib.suppress(Exception):  # an unreachable store: the run stays RUNNING
        mlflow.end_run("FAILED")


def close_orphans(client: MlflowClient, experiment: str) -> list[str]:
    """Mark KILLED the RUNNING runs this host started from processes that no longer exist.

    Only runs tagged with this host's name are considered, so a run another machine is still
    logging is never touched. Returns the run ids it marked.
    """
    found = client.get_experiment_by_name(experiment)
    host = socket.gethostname()
    runs = client.search_runs(
        [found.experiment_id], max_results=1000,
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'")
    closed = []
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and not _alive(int(pid)):
            client.set_tag(run.info.run_id, "riskgrid.note",
                           f"process {pid} on {host} ended without finishing this run; marked "
                           "KILLED by a later riskgrid train")
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):  # a zombie has ended, only its exit status is left
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


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
    except MlflowException as exc:
        if exc.get_http_status_code() >= 500:  # the store failed: not the same as no alias
            raise
        return None
    run = client.get_run(version.run_id)
    return (version.version, run.data.metrics[metric_key(metric) + "_h1"],
            run.data.tags.get("backtest_fingerprint", ""))


def promote(settings: Settings, experiment: str, metric: str, reason: str,
            who: str | None = None) -> dict:
    """Move ``champion`` to the challenger if it beats the champion on the same backtest.

    Returns a record of the decision; raises InputError when the challenger's run did not
    finish or its model files are not whole (see :func:`check_complete`), or when the two were
    backtested on different data or folds (compare like with like: retrain the champion's
    experiment).
    """
    with _requests(TRAINING_REQUESTS):
        return _promote(settings, experiment, metric, reason, who)


def _promote(settings: Settings, experiment: str, metric: str, reason: str,
             who: str | None) -> dict:
    client = use_store(settings, experiment)
    name = model_name(experiment)
    challenger = version_metric(client, name, CHALLENGER, metric)
    if challenger is None:
        raise InputError(f"model {name} has no challenger; run riskgrid train first")
    check_complete(client, name, challenger[0])
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
    for key, value in version_tags(record).items():
        client.set_model_version_tag(name, challenger[0], key, value)
    history = _history(client, name) + [record | {"promoted": True}]
    client.set_registered_model_tag(name, "promotions", json.dumps(history[-10:]))
    describe(client, name)  # the history as a table on the model's page
    return record | {"promoted": True, "why": "first champion" if champion is None else
                     f"challenger beats the champion on {metric}"}


def check_complete(client: MlflowClient, name: str, version: str) -> None:
    """Raise InputError unless the version's run FINISHED and its model files are whole.

    An alias can be moved by hand (the MLflow UI, another tool) onto a version whose run was
    killed half-way, and artifact stores can lose or cut files; promotion is where such a
    version must stop. The files are checked against the manifest written at training, not
    loaded: LightGBM aborts the whole process on a cut-short booster file.
    """
    found = client.get_model_version(name, version)
    run = client.get_run(found.run_id)
    what = f"challenger version {version} of {name} (run {found.run_id})"
    if run.info.status != "FINISHED" or found.status != "READY":
        raise InputError(f"{what} is not complete: its run is {run.info.status} and the version "
                         f"is {found.status}, not FINISHED and READY, so its training was "
                         "interrupted; run riskgrid train again and promote the new challenger")
    uri = client.get_model_version_download_uri(name, version).rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        problem = next((f"{f} is missing" for f in ("MLmodel", "python_model.pkl")
                        if not (folder / f).is_file()), None)
        problem = problem or manifest_problem(folder / "artifacts" / "risk_model")
    if problem:
        raise InputError(f"{what} has incomplete model files at {uri} ({problem}); run "
                         "riskgrid train again and promote the new challenger")


MANIFEST = "manifest.json"


def write_manifest(folder: Path) -> None:
    """Record the SHA-256 of every file of a saved model, to check it is whole later."""
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    (folder / MANIFEST).write_text(json.dumps(files, indent=2) + "\n")


def manifest_problem(folder: Path) -> str | None:
    """What differs from the manifest (a file missing, cut or changed), or None if nothing."""
    try:
        expected = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return f"risk_model/{MANIFEST} is missing"
    except ValueError:
        return f"risk_model/{MANIFEST} is not valid JSON"
    for file, digest in expected.items():
        path = folder / file
        if not path.is_file():
            return f"risk_model/{file} is missing"
        if _sha256(path) != digest:
            return f"risk_model/{file} differs from the file training wrote"
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return (text[:limit] + "...") if len(text) > limit else text.rstrip(".")


STORE_ERRORS = (MlflowException, requests.RequestException)


@contextlib.contextmanager
def store_failures(settings: Settings, command: str, consequence: str) -> Iterator[None]:
    """Report an unreachable or failing tracking store as one InputError sentence.

    Args:
        settings: where the default store lives.
        command: what was running, e.g. "riskgrid train".
        consequence: what the failure means for the registry, e.g. "the champion is unchanged".
    """
    try:
        yield
    except STORE_ERRORS as exc:
        if isinstance(exc, MlflowException) and exc.get_http_status_code() < 500:
            raise  # a request the store understood and refused: a bug, not an outage
        raise _store_error(settings, command, consequence, exc) from None


def _store_error(settings: Settings, command: str, consequence: str,
                 exc: BaseException) -> InputError:
    uri = tracking_uri(settings)
    if settings.mlflow_tracking_uri:
        where = f"the MLflow tracking server at {uri} (MLFLOW_TRACKING_URI)"
        fix = "start the server or point MLFLOW_TRACKING_URI at a running one"
    else:
        where = f"the MLflow store {uri} (set MLFLOW_TRACKING_URI to use a server)"
        fix = "check that file and its folder"
    return InputError(f"{command} could not use {where}: {_cause(exc)}; {consequence}; {fix}, "
                      f"then run {command} again")


def _cause(exc: BaseException) -> str:
    """A few words on what went wrong, instead of urllib3's nested reprs."""
    text = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e)
    key = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    retries = os.environ.get(key, TRAINING_REQUESTS[key])
    for needles, said in (
            (("Connection refused",), f"connection refused (after {retries} retries)"),
            (("RemoteDisconnected", "Connection aborted", "Connection reset"),
             f"the server dropped the connection (after {retries} retries)"),
            (("timed out", "Timeout"), "no answer within MLFLOW_HTTP_REQUEST_TIMEOUT seconds"),
            (("Name or service not known", "Failed to resolve", "nodename nor servname"),
             "unknown host name"),
            (("too many 500", "too many 502", "too many 503", "too many 504"),
             "the server kept answering with errors (is its database up?)")):
        if any(needle in text for needle in needles):
            return said
    return _first_line(exc)


def _history(client: MlflowClient, name: str) -> list[dict]:
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get("promotions", "[]"))
