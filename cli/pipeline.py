"""Commands of the pipeline: synth, ingest, features, backtest, train and promote."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.app import (
    ExperimentArg,
    JsonOpt,
    app,
    console,
    err_console,
    load_experiment,
    settings_of,
    write_json,
)


@app.command(epilog="Example: riskgrid synth --out data/synthetic_city --seed 7")
def synth(ctx: typer.Context,
          out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
          seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
          faults: Annotated[bool, typer.Option(
              "--faults", help="Plant data faults for the data alarms: a district's hotline "
              "silent for 6 weeks, a street with no data for 4 weeks, a category renamed "
              "(listed in truth/faults.csv).")] = False) -> None:
    """Generate the synthetic city: incidents, petitions, areas and the ground truth."""
    from cli.progress import progress
    from features import write_city

    settings = settings_of(ctx)
    target = out or settings.data_dir / "synthetic_city"
    with progress("synth") as step:
        step("generating the synthetic city")
        written = write_city(target, seed=seed, faults=faults)
    for name, path in written.items():
        console.print(f"{name:<12} {path}")


@app.command("ingest", epilog="Example: riskgrid ingest experiments/synthetic_city.toml --json "
             "data/synthetic_city/ingest_summary.json; a day's export: riskgrid ingest "
             "experiments/synthetic_city.toml --append --source incidents=today.csv")
def ingest_command(ctx: typer.Context, experiment: ExperimentArg, json_path: JsonOpt = None,
                   append: Annotated[bool, typer.Option(
                       "--append", help="Add the records to the clean tables already there "
                       "(only the months they touch are written again) instead of rebuilding "
                       "them; `riskgrid features` then updates only the periods they change."
                   )] = False,
                   source: Annotated[list[str] | None, typer.Option(
                       "--source", metavar="NAME=PATH", help="With --append: read source NAME "
                       "from PATH (a day's export) and no other source; repeatable.")] = None
                   ) -> None:
    """Read the experiment's sources into clean tables; print the row accounting."""
    from cli.progress import progress
    from features import append as append_records
    from features import ingest

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    paths = _source_paths(source or [])
    if paths and not append:
        raise typer.BadParameter("--source NAME=PATH goes with --append (a full ingest reads "
                                 "the paths of the experiment file)", param_hint="--source")
    with progress("ingest") as step:
        report = (append_records(exp, settings, paths, progress=step) if append
                  else ingest(exp, settings, progress=step))
    summary = report.as_json()
    table = Table(title=f"ingest {exp.name}" + (" (append)" if append else ""))
    keys = ("rows_in", "accepted", "quarantined", "duplicates", "merged")
    if append:
        keys += ("added", "replaced", "unchanged")
    for column in ("source", *keys):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, counts in {**summary["sources"], "total": summary["total"]}.items():
        table.add_row(name, *(f"{counts.get(k, 0):,}" for k in keys))
    console.print(table)
    if summary["total"]["merged"]:
        console.print("merged: accepted rows folded into an earlier row of the same incident "
                      "(merge_rows = true); the clean table holds accepted - merged incidents")
    console.print(f"clean tables: {report.clean_dir}")
    write_json(json_path, summary)


def _source_paths(values: list[str]) -> dict[str, Path]:
    paths = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"'{value}' is not NAME=PATH (e.g. incidents=today.csv)",
                                     param_hint="--source")
        paths[name] = Path(path).resolve()
    return paths


@app.command(epilog="Example: riskgrid features experiments/synthetic_city.toml")
def features(ctx: typer.Context, experiment: ExperimentArg) -> None:
    """Build the feature panel and the feature catalogue from the clean tables."""
    from cli.progress import progress
    from features import build_features

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    with progress("features") as step:
        result = build_features(exp, settings, progress=step)
    console.print(f"panel: {result.rows:,} rows x {result.columns} features, periods "
                  f"{result.periods[0]} to {result.periods[1]} -> {result.path}")
    if result.blocks is not None:
        console.print(f"updated for the new records: {result.blocks[0]} of {result.blocks[1]} "
                      "blocks of periods written again, the others kept")
    for line in result.left_out:
        console.print(line, highlight=False, markup=False)


def _comparison(result, horizon: int) -> Table:
    keys = ("poisson_deviance", "mae", "count_ratio", "crps", "coverage@80%", "roc_auc", "pr_auc",
            "brier", "ece", "hit_rate@5%", "pai@5%", "pei@5%")
    keys += tuple(k for k in ("pai@area", "pei@area") if k in result.model[horizon])
    table = Table(title=f"backtest, horizon {horizon} ({len(result.folds)} folds)")
    table.add_column("forecaster")
    for key in keys:
        table.add_column(key, justify="right")
    rows = {"model": result.model[horizon]} | {n: b[horizon] for n, b in result.baselines.items()}
    if result.oracle:
        rows["oracle (truth)"] = result.oracle[horizon]
    for name, metrics in rows.items():
        table.add_row(name, *("n/a" if math.isnan(metrics[k]) else f"{metrics[k]:.4f}"
                              for k in keys))
    undefined = sorted({k for m in rows.values() for k in keys if math.isnan(m[k])})
    if undefined:
        table.caption = (f"n/a ({', '.join(undefined)}): undefined, because the test periods "
                         "hold only one class of the high-risk flag (none flagged, or all)")
    return table


def flag_warning(predictions, training) -> str | None:
    """One sentence when no test period is high-risk: the risk metrics mean nothing then."""
    if predictions is not None and len(predictions) and \
            float(predictions["flag"].fillna(0).sum()) == 0:
        return (f"no test period is high-risk under [training] risk_flag = "
                f"\"{training.risk_flag}\", so ROC AUC and PR AUC are undefined and ECE and "
                "Brier score nothing; for data without collective petitions or group incidents "
                "set risk_flag = \"above_quantile\" (with flag_quantile) in the experiment file")
    return None


@app.command("backtest", epilog="Example: riskgrid backtest experiments/synthetic_city.toml "
             "--json data/synthetic_city/backtest.json")
def backtest_command(ctx: typer.Context,
                     experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Rolling-origin backtest of the model and every baseline; print and write the metrics."""
    from cli.progress import progress
    from features import Engine
    from training import backtest, load_inputs

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    with progress("backtest") as step:
        step("reading the feature panel")
        result = backtest(exp, load_inputs(exp, settings), step, Engine.from_settings(settings))
    for h in result.horizons:
        console.print(_comparison(result, h))
    summary = result.as_json()
    warning = flag_warning(result.predictions, exp.training)
    if warning:
        err_console.print(f"warning: {warning}", highlight=False, markup=False)
        summary["warnings"] = [warning]
    for h, s in summary["skill"].items():
        console.print(f"horizon {h}: {s['metric']} model {s['model_value']:.4f}, best baseline "
                      f"{s['best_baseline']} {s['baseline_value']:.4f}, improvement "
                      f"{s['improvement']:+.4f}")
    for h, gaps in summary.get("gap_closed", {}).items():
        for metric, g in gaps.items():
            console.print(f"horizon {h}: the model closes {g['share']:.0%} of the gap in {metric} "
                          f"between the best baseline ({g['best_baseline']} "
                          f"{g['baseline_value']:.4f}) and the oracle ({g['oracle_value']:.4f}): "
                          f"model {g['model_value']:.4f}")
    for level, gap in summary.get("coherence", {}).items():
        console.print(f"{level}: bottom-up vs Prophet gap {gap['coherence_gap']:.1%} of the mean "
                      f"count; MAE bottom-up {gap['mae_bottom_up']:.2f}, Prophet "
                      f"{gap['mae_prophet']:.2f}")
    write_json(json_path, summary)


@app.command(epilog="Example: riskgrid train experiments/synthetic_city.toml")
def train(ctx: typer.Context, experiment: ExperimentArg) -> None:
    """Backtest, fit on all data, log to MLflow and register the model as challenger."""
    from cli.progress import progress
    from training import check_store, save_backtest_predictions, store_failures
    from training import train as train_model

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    with store_failures(settings, "riskgrid train", "the champion is unchanged"):
        check_store(settings, exp.name)  # an unreachable store fails now, not after the backtest
        with progress("train") as step:
            report = train_model(exp, settings, experiment.read_text(encoding="utf-8"), step)
    console.print(_comparison(report.result, min(report.result.horizons)))
    warning = flag_warning(report.result.predictions, exp.training)
    if warning:
        err_console.print(f"warning: {warning}", highlight=False, markup=False)
    console.print(f"registered {report.model_name} version {report.registered_version} as "
                  f"challenger (backtest {report.backtest_fingerprint})")
    saved = save_backtest_predictions(report.result.predictions, exp.output_dir(settings))
    console.print(f"backtest forecasts (out of sample, for the scorecard): {saved}")


@app.command(epilog='Example: riskgrid promote experiments/synthetic_city.toml --reason '
             '"monthly review" --who li.ming')
def promote(ctx: typer.Context, experiment: ExperimentArg,
            reason: Annotated[str, typer.Option(help="Why, for the record.")] = "scheduled review",
            who: Annotated[str | None, typer.Option(help="Who decides (default: user).")] = None
            ) -> None:
    """Make the challenger champion if it beats the champion on the primary metric."""
    from training import promote as promote_model
    from training import store_failures

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    with store_failures(settings, "riskgrid promote", "the champion alias moves in one step, "
                        "so it is either unchanged or the challenger"):
        record = promote_model(settings, exp.name, exp.training.primary_metric, reason, who)
    verb = "promoted" if record["promoted"] else "kept the champion"
    console.print(f"{verb}: {record['why']} (challenger version {record['challenger_version']})")
