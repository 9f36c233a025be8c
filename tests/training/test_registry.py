"""MLflow: runs, registry aliases and the promotion rules, on a real SQLite tracking store."""

from __future__ import annotations

import math

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from features import build_panel
from features.hierarchy import level_counts
from features.io import csv_writer, json_writer, parquet_writer, write_snapshot
from features.pipeline import fingerprint
from riskgrid import InputError
from riskgrid.experiment import Experiment, TrainingConfig
from tests.conftest import random_tables
from training import registry
from training.pipeline import train

SANE = {"folds": 1, "fold_step": 8, "min_train_periods": 20, "num_boost_round": 20,
        "min_data_in_leaf": 20, "risk_flag": "above_quantile", "flag_quantile": 0.8}
WILD = SANE | {"num_boost_round": 150, "learning_rate": 1.0, "num_leaves": 64,
               "min_data_in_leaf": 1, "min_sum_hessian_in_leaf": 0.0, "lambda_l2": 0.0,
               "choose_rounds": False, "shrinkage_weights": [1.0]}


def experiment(**training) -> Experiment:
    return Experiment.model_validate({
        "name": "tiny", "areas": {"path": "unused.csv"}, "sources": {},
        "features": {"start": "2023-01-02", "end": "2023-12-25", "horizons": [1]},
        "training": TrainingConfig(**training).model_dump()})


def write_inputs(exp: Experiment, settings, seed: int = 0) -> None:
    areas, incidents, petitions = random_tables(seed=seed, n_areas=6, n_incidents=4000)
    panel = build_panel(areas, incidents, petitions, exp.features)
    out = exp.output_dir(settings)
    write_snapshot(out / "clean", {f"{n}.parquet": parquet_writer(f) for n, f in
                                   (("areas", areas), ("incidents", incidents),
                                    ("petitions", petitions))})
    write_snapshot(out / "features", {
        "panel.parquet": parquet_writer(panel.frame),
        "counts.parquet": parquet_writer(level_counts(panel.frame, areas)),
        "catalogue.json": json_writer(panel.catalogue.to_dict(orient="records")),
        "catalogue.csv": csv_writer(panel.catalogue),
        "meta.json": json_writer({"input_fingerprint": fingerprint(areas, incidents, petitions),
                                  "first_period": "2023-01-02", "last_period": "2023-12-25"})})


def aliases(settings) -> dict[str, str]:
    registry.use_store(settings, "tiny")
    found = MlflowClient().get_registered_model("riskgrid-tiny").aliases
    return {alias: str(version) for alias, version in found.items()}


def test_training_logs_a_run_and_registers_a_challenger(settings):
    exp = experiment(**SANE)
    write_inputs(exp, settings)
    report = train(exp, settings, "name = 'tiny'\n")
    assert aliases(settings) == {"challenger": report.registered_version}
    client = MlflowClient()
    version = client.get_model_version("riskgrid-tiny", report.registered_version)
    run = client.get_run(version.run_id)
    assert run.data.tags["backtest_fingerprint"] == report.backtest_fingerprint
    assert "poisson_deviance_h1" in run.data.metrics and "pai_at_5pct_h1" in run.data.metrics
    assert run.data.metrics["coherence_gap_city"] >= 0  # bottom-up against Prophet
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"experiment.toml", "backtest.json", "baseline_comparison.csv",
            "feature_importance.csv", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(version.run_id, "plots")}
    assert plots == {"plots/calibration.png", "plots/shap_summary.png"}
    assert (settings.data_dir / "mlflow.db").is_file()  # the default store: SQLite, no server
    location = client.get_experiment_by_name("tiny").artifact_location
    assert location.startswith((settings.data_dir / "mlartifacts").resolve().as_uri())


def test_the_compare_view_puts_the_model_beside_each_baseline(settings):
    exp = experiment(**SANE)
    write_inputs(exp, settings)
    report = train(exp, settings, "")
    client = MlflowClient()
    run_id = client.get_model_version("riskgrid-tiny", report.registered_version).run_id
    backtest = mlflow.artifacts.load_dict(f"runs:/{run_id}/backtest.json")
    model_run = client.get_run(run_id)
    tags = {"experiment": "tiny", "backtest_fingerprint": report.backtest_fingerprint,
            "data_fingerprint": model_run.data.tags["data_fingerprint"], "forecaster": "model"}
    assert tags.items() <= model_run.data.tags.items()

    # what the UI's compare view reads: every run of the experiment with these fingerprints
    found = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        filter_string=f"tags.experiment = 'tiny' and tags.backtest_fingerprint = "
                      f"'{report.backtest_fingerprint}'")
    children = {r.data.tags["forecaster"]: r for r in found if r.info.run_id != run_id}
    assert len(found) == len(children) + 1 and set(children) == set(backtest["baselines"])
    assert len(children) >= 4  # last value, seasonal naive, moving averages, long-run mean
    for name, run in children.items():
        assert run.data.tags["mlflow.parentRunId"] == run_id and run.info.status == "FINISHED"
        assert run.data.tags["data_fingerprint"] == tags["data_fingerprint"]
        expected = {f"{registry.metric_key(k)}_h{h}": v for h, m in
                    backtest["baselines"][name].items() for k, v in m.items()
                    if not math.isnan(v)}
        assert run.data.metrics == pytest.approx(expected), name
        # the same metric names as the model's run, so they line up in one column
        assert set(expected) <= set(model_run.data.metrics)
    best = min(r.data.metrics["poisson_deviance_h1"] for r in children.values())
    assert backtest["skill"]["1"]["baseline_value"] == pytest.approx(best)  # skill's baseline


def test_the_models_description_holds_the_promotion_history(settings):
    exp = experiment(**WILD)
    write_inputs(exp, settings)
    wild = train(exp, settings, "")  # overfits: the next one beats it
    registry.promote(settings, "tiny", "poisson_deviance", "first model", who="ana")
    sane = train(experiment(**SANE), settings, "")
    record = registry.promote(settings, "tiny", "poisson_deviance", "monthly | review",
                              who="bo")
    assert record["promoted"], record

    client = MlflowClient()
    text = client.get_registered_model("riskgrid-tiny").description
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header, rows = lines[0], [[c.strip() for c in line.strip("|").split(" | ")]
                              for line in lines[1:]]
    assert header.startswith("| version | who | when (UTC) | why | metric | value |")
    assert [r[:2] for r in rows] == [[sane.registered_version, "bo"],
                                     [wild.registered_version, "ana"]]  # newest first
    new, old = rows
    assert new[3] == "monthly \\| review" and old[3] == "first model"
    assert new[4] == old[4] == "poisson_deviance"
    assert float(new[5]) == pytest.approx(record["challenger_value"], abs=1e-4)
    assert new[6] == f"version {wild.registered_version}"
    assert float(new[7]) == pytest.approx(record["champion_value"], abs=1e-4)
    assert float(new[8].rstrip("%")) < 0  # deviance went down
    assert old[6] == "none (first champion)" and old[7] == ""
    assert new[2][:4].isdigit() and "T" not in new[2]


def test_promotion_rules(settings):
    sane = experiment(**SANE)
    write_inputs(sane, settings)
    first = train(sane, settings, "")
    record = registry.promote(settings, "tiny", "poisson_deviance", "first model", who="ana")
    assert record["promoted"] and record["why"] == "first champion"
    assert aliases(settings)["champion"] == first.registered_version

    wild = train(experiment(**WILD), settings, "")  # overfits noise: worse held-out deviance
    record = registry.promote(settings, "tiny", "poisson_deviance", "try", who="ana")
    assert not record["promoted"] and record["challenger_value"] > record["champion_value"]
    assert aliases(settings) == {"champion": first.registered_version,
                                 "challenger": wild.registered_version}

    write_inputs(sane, settings, seed=1)  # new data: a different backtest
    train(sane, settings, "")
    with pytest.raises(InputError, match="different data"):
        registry.promote(settings, "tiny", "poisson_deviance", "new data")
    assert aliases(settings)["champion"] == first.registered_version

    client = MlflowClient()
    tags = client.get_model_version("riskgrid-tiny", first.registered_version).tags
    assert tags["promoted_who"] == "ana" and tags["promoted_reason"] == "first model"
    assert pd.Timestamp(tags["promoted_when"]).year >= 2025


def test_a_failed_training_changes_no_alias(settings, monkeypatch):
    exp = experiment(**SANE)
    write_inputs(exp, settings)
    first = train(exp, settings, "")
    registry.promote(settings, "tiny", "poisson_deviance", "first")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(registry, "log_model", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        train(exp, settings, "")
    assert aliases(settings) == {"champion": first.registered_version,
                                 "challenger": first.registered_version}
