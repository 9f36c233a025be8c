"""`riskgrid backtest` and `riskgrid train`: panel in, backtest, models and MLflow runs out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import LOCAL, Engine, read_clean, read_features
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings
from training.backtest import (
    BacktestResult,
    design,
    feature_columns,
    periods_step,
    run_backtest,
    training_rows,
)
from training.coherence import coherence_report
from training.distributed import booster_fit
from training.metrics import calibration_table
from training.models import fit_horizon
from training.oracle import TRUTH_COLUMNS, oracle_forecasts
from training.partitioned import (
    fit_final_partitioned,
    latest_rows,
    panel_rows,
    shap_importance_partitioned,
    upper_counts,
)
from training.partitioned_backtest import run_backtest_partitioned
from training.registry import TrainingRecord, log_training
from training.riskmodel import RiskModel, contributions
from training.targets import (
    flag_threshold,
    input_catalogue,
    target_counts,
    target_flags,
)


@dataclass(frozen=True)
class Inputs:
    panel: pd.DataFrame
    catalogue: pd.DataFrame
    areas: pd.DataFrame
    incidents: pd.DataFrame
    petitions: pd.DataFrame
    counts: pd.DataFrame
    meta: dict
    truth: pd.DataFrame | None = None  # a synthetic city's true intensity ([training] oracle)
    # The folder whose panel parts the workers read, when the panel stays on them (``panel``,
    # ``incidents`` and ``petitions`` are then empty, ``counts`` holds the units above grids).
    folder: Path | None = None

    @property
    def rows(self) -> int:
        """The panel's rows."""
        return len(self.panel) if self.folder is None else panel_rows(self.folder)


def load_inputs(experiment: Experiment, settings: Settings) -> Inputs:
    """The feature snapshot and the clean tables of an experiment (and its truth, if any).

    With the Dask engine and a panel the workers wrote as parts, the panel and the records
    stay on the workers: only the catalogue, the areas and the counts above the grids are read.
    """
    folder = experiment.output_dir(settings)
    parts = on_parts(folder, Engine.from_settings(settings))
    features = read_features(folder, tables=() if parts else ("panel", "counts"))
    clean = read_clean(folder, events=not parts)
    oracle = experiment.training.oracle
    return Inputs(panel=features.panel, catalogue=features.catalogue, areas=clean.areas,
                  incidents=clean.incidents, petitions=clean.petitions,
                  counts=upper_counts(folder) if parts else features.counts,
                  meta=features.meta, folder=folder if parts else None,
                  truth=None if oracle is None else read_truth(experiment.resolve(oracle,
                                                                                   settings)))


def on_parts(folder: Path, engine: Engine) -> bool:
    """Whether the workers read the panel: the Dask engine, and a panel written as parts."""
    return engine.scheduler is not None and (folder / "features" / "panel.parquet").is_dir()


def read_truth(path: Path) -> pd.DataFrame:
    """The true intensity table [training] oracle names (riskgrid synth writes it)."""
    if not path.is_file():
        raise InputError(f"{path}: [training] oracle names no file here; run riskgrid synth "
                         "for the synthetic city, or leave oracle out for a real city.")
    return pd.read_parquet(path, columns=list(TRUTH_COLUMNS))


def backtest(experiment: Experiment, inputs: Inputs, progress=None,
             engine: Engine = LOCAL) -> BacktestResult:
    """The rolling-origin backtest, its boosters fitted on ``engine`` (and, when the panel
    is kept as parts on the workers, its rows made, forecast and baselined there too)."""
    thresholds = step = None
    if inputs.folder is not None:
        found = run_backtest_partitioned(experiment, inputs.folder, engine, progress)
        result, thresholds, step = found.result, found.thresholds, found.step
    else:
        with booster_fit(engine) as fit:
            result = run_backtest(inputs.panel, inputs.catalogue, inputs.areas,
                                  experiment.features, experiment.training,
                                  records=(inputs.incidents, inputs.petitions),
                                  progress=progress, fit=fit)
    if inputs.truth is not None:
        if progress:
            progress("scoring the oracle (the true intensity)")
        score_oracle(result, inputs, experiment, thresholds, step)
    if experiment.features.period != "month":  # Prophet's periods align with ours by a fixed step
        if progress:
            progress("comparing bottom-up sums with Prophet")
        result.coherence = coherence_report(result, inputs.areas, inputs.counts,
                                            experiment.features.period,
                                            experiment.training.target)
    return result


def score_oracle(result: BacktestResult, inputs: Inputs, experiment: Experiment,
                 thresholds: dict | None = None, step: pd.Timedelta | None = None) -> None:
    """The truth's forecasts of the backtest's rows, scored beside the model's.

    Args:
        thresholds, step: per fold each area's flag threshold, and the periods' step, when
            the panel is not here (the backtest on the workers gives them).
    """
    config = experiment.training
    panel = inputs.panel
    if thresholds is None and config.risk_flag == "above_quantile":
        ids = panel[C.AREA_ID].unique()
        thresholds = {f.number: pd.Series(flag_threshold(panel, config, before=f.start), ids)
                      for f in result.folds}
    step = periods_step(panel[C.PERIOD]) if step is None else step
    result.score_oracle(*oracle_forecasts(result.predictions, inputs.truth, config, step,
                                          thresholds))


def fingerprint(experiment: Experiment, inputs: Inputs, result: BacktestResult) -> str:
    """What makes two backtests comparable: the data, the folds, the targets."""
    basis = {"data": inputs.meta["input_fingerprint"], "rows": inputs.rows,
             "folds": [[str(f.start), str(f.stop)] for f in result.folds],
             "horizons": result.horizons, "target": experiment.training.target,
             "flag": [experiment.training.risk_flag, experiment.training.flag_quantile]}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def fit_final(experiment: Experiment, inputs: Inputs,
              engine: Engine = LOCAL) -> RiskModel:
    """Fit every horizon on all rows whose targets are known, the boosters on ``engine``."""
    config, panel = experiment.training, inputs.panel
    features = feature_columns(panel, inputs.catalogue)
    threshold = flag_threshold(panel, config)
    rows = training_rows(panel, inputs.areas, config, threshold,
                         experiment.features.windows[-1])
    models = {}
    with booster_fit(engine) as fit:
        for h in experiment.features.horizons:
            count = target_counts(panel, config, h)
            flag = target_flags(panel, config, h, threshold)
            known = ~np.isnan(count) & ~np.isnan(flag)  # NaN: a period a source did not cover
            X = design(panel, features, experiment.features.period, h,
                       experiment.features.calendar)
            models[h] = fit_horizon(X[known], count[known], flag[known], rows.take(known),
                                    config, h, fit).model
    thresholds = {} if rows.threshold is None else dict(zip(
        panel[C.AREA_ID].unique(), map(float, threshold), strict=True))
    return RiskModel(experiment=experiment.name, period=experiment.features.period,
                     target=config.target, risk_flag=config.risk_flag, features=features,
                     horizons=models, thresholds=thresholds,
                     calendar=experiment.features.calendar)


def shap_importance(model: RiskModel, inputs: Inputs, recent: int = 13) -> pd.DataFrame:
    """Mean absolute TreeSHAP contribution of each input at horizon 1, on the latest periods."""
    panel = inputs.panel
    last = np.sort(panel[C.PERIOD].unique())[-recent:]
    rows = panel[panel[C.PERIOD].isin(last)]
    h = min(model.horizons)
    X = model.inputs(panel, h).loc[rows.index]
    values = contributions(model.horizons[h], X).drop(columns="base_value")
    catalogue = input_catalogue(inputs.catalogue)
    names = dict(zip(catalogue["name"], catalogue["en"], strict=True))
    table = values.abs().mean().sort_values(ascending=False).rename("mean_abs_shap")
    table = table.to_frame()
    table["description"] = [names.get(n, n) for n in table.index]
    return table.rename_axis("feature").reset_index(), values, X


def _pyplot():
    """pyplot on the Agg backend: plots are files, there is no screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def calibration_plot(result: BacktestResult, path: Path) -> Path:
    plt = _pyplot()
    rows = result.predictions[result.predictions["horizon"] == min(result.horizons)]
    table = calibration_table(rows["flag"].to_numpy(), rows["model_probability"].to_numpy())
    table = table[table["count"] >= 20]  # a handful of rows says nothing about calibration
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
    for _, row in table.iterrows():
        ax.annotate(f"n={int(row['count']):,}", (row["mean_predicted"], row["observed_rate"]),
                    textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="predicted risk probability", ylabel="observed share high-risk",
           title="Calibration, horizon 1 (backtest; bins with 20+ rows)")
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def shap_plot(values: pd.DataFrame, X: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    import shap

    shap.summary_plot(values.to_numpy(), X[values.columns], show=False, max_display=20,
                      rng=np.random.default_rng(0))
    plt.gcf().savefig(path, dpi=100, bbox_inches="tight")
    plt.close("all")
    return path


def comparison_table(result: BacktestResult) -> pd.DataFrame:
    """Model and baselines side by side, one row per (horizon, forecaster)."""
    rows = [{"horizon": h, "forecaster": "model", **m} for h, m in result.model.items()]
    rows += [{"horizon": h, "forecaster": name, **m}
             for name, by_h in result.baselines.items() for h, m in by_h.items()]
    return pd.DataFrame(rows).sort_values(["horizon", "forecaster"], ignore_index=True)


@dataclass(frozen=True)
class TrainReport:
    result: BacktestResult
    registered_version: str
    model_name: str
    backtest_fingerprint: str


def train(experiment: Experiment, settings: Settings, config_text: str,
          progress=None) -> TrainReport:
    """Backtest, fit on all data, explain, log to MLflow and register a challenger."""

    if progress:
        progress("reading the feature panel")
    inputs = load_inputs(experiment, settings)
    engine = Engine.from_settings(settings)
    result = backtest(experiment, inputs, progress, engine)
    if progress:
        progress("fitting the final models")
    # A panel the workers wrote as parts: the final fit and TreeSHAP read them there.
    folder = experiment.output_dir(settings)
    parts = inputs.folder is not None
    model = (fit_final_partitioned(experiment, folder, engine)[0] if parts
             else fit_final(experiment, inputs, engine))
    if progress:
        progress("explaining the models (TreeSHAP)")
    importance, values, X = (shap_importance_partitioned(model, folder, engine) if parts
                             else shap_importance(model, inputs))
    backtest_fp = fingerprint(experiment, inputs, result)
    plots_dir = experiment.output_dir(settings) / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    record = TrainingRecord(
        config_text=config_text,
        params={**{f"training.{k}": v for k, v in experiment.training.model_dump().items()},
                **{f"features.{k}": v for k, v in experiment.features.model_dump().items()}},
        tags={"data_fingerprint": inputs.meta["input_fingerprint"],
              "backtest_fingerprint": backtest_fp, "first_period": inputs.meta["first_period"],
              "last_period": inputs.meta["last_period"]},
        backtest=result.as_json(), per_fold=result.per_fold,
        comparison=comparison_table(result), importance=importance,
        plots={"calibration": calibration_plot(result, plots_dir / "calibration.png"),
               "shap": shap_plot(values, X, plots_dir / "shap_summary.png")})
    example = (latest_rows(folder, 20) if parts else
               inputs.panel[inputs.panel[C.PERIOD] == inputs.panel[C.PERIOD].max()].head(20))
    if progress:
        progress("logging to MLflow and registering the model")
    registered = log_training(settings, experiment.name, record, model, example)
    return TrainReport(result=result, registered_version=registered.version,
                       model_name=registered.name, backtest_fingerprint=backtest_fp)


BACKTEST_FILE = Path("backtest") / "predictions.parquet"  # under DATA_DIR/NAME/
BACKTEST_COLUMNS = ("fold", "horizon", C.AREA_ID, C.PERIOD, "model_count", "model_probability")


def save_backtest_predictions(predictions: pd.DataFrame, folder: Path) -> Path:
    """The backtest's out-of-sample forecasts, which the ledger records as past vintages."""
    path = folder / BACKTEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    predictions[list(BACKTEST_COLUMNS)].to_parquet(tmp, index=False)
    tmp.replace(path)  # whole or absent
    return path


def read_backtest_predictions(folder: Path) -> pd.DataFrame | None:
    """What save_backtest_predictions wrote for the experiment at ``folder``, or None."""
    path = folder / BACKTEST_FILE
    return pd.read_parquet(path) if path.is_file() else None
