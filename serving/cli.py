"""The riskgrid command line: one command per pipeline step."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features import InputError, Settings, ingest
from features import load_experiment as _load
from serving.config import ServingExperiment

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Risk forecasting and early warning for grid-based social governance.")
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)

ExperimentArg = Annotated[
    Path, typer.Argument(help="Experiment file, e.g. experiments/synthetic_city.toml")]
JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Also write the summary as JSON here.")]


@app.command()
def synth(out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
          seed: Annotated[int, typer.Option(help="Random seed.")] = 7) -> None:
    """Generate the synthetic city: incidents, petitions, areas and the ground truth."""
    from features.synthetic_city import write_city

    settings = Settings()
    target = out or settings.data_dir / "synthetic_city"
    with console.status("generating the synthetic city"):
        written = write_city(target, seed=seed)
    for name, path in written.items():
        console.print(f"{name:<12} {path}")


@app.command("ingest")
def ingest_command(experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Read the experiment's sources into clean tables; print the row accounting."""
    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("ingesting") as status:
        report = ingest(exp, settings, progress=lambda msg: status.update(msg))
    summary = report.as_json()
    table = Table(title=f"ingest {exp.name}")
    for column in ("source", "rows_in", "accepted", "quarantined", "duplicates"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, counts in {**summary["sources"], "total": summary["total"]}.items():
        table.add_row(name, *(f"{counts[k]:,}" for k in ("rows_in", "accepted", "quarantined",
                                                          "duplicates")))
    console.print(table)
    console.print(f"clean tables: {report.clean_dir}")
    write_json(json_path, summary)


@app.command()
def features(experiment: ExperimentArg) -> None:
    """Build the feature panel and the feature catalogue from the clean tables."""
    from features import build_features

    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("building features"):
        result = build_features(exp, settings)
    console.print(f"panel: {result.rows:,} rows x {result.columns} features, periods "
                  f"{result.periods[0]} to {result.periods[1]} -> {result.path}")


def write_json(path: Path | None, payload: dict) -> None:
    """The --json output other tools read, when asked for."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n")


def load_experiment(path: Path) -> ServingExperiment:
    """Every command reads the whole experiment file, every section included."""
    return _load(path, ServingExperiment)


def _comparison(result, horizon: int) -> Table:
    keys = ("poisson_deviance", "mae", "roc_auc", "pr_auc", "brier", "ece", "hit_rate@5%",
            "pai@5%", "pei@5%")
    table = Table(title=f"backtest, horizon {horizon} ({len(result.folds)} folds)")
    table.add_column("forecaster")
    for key in keys:
        table.add_column(key, justify="right")
    rows = {"model": result.model[horizon]} | {n: b[horizon] for n, b in result.baselines.items()}
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[k]:.4f}" for k in keys))
    return table


@app.command("backtest")
def backtest_command(experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Rolling-origin backtest of the model and every baseline; print and write the metrics."""
    from training.pipeline import backtest, load_inputs

    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("backtesting") as status:
        result = backtest(exp, load_inputs(exp, settings), lambda m: status.update(m))
    for h in result.horizons:
        console.print(_comparison(result, h))
    summary = result.as_json()
    for h, s in summary["skill"].items():
        console.print(f"horizon {h}: {s['metric']} model {s['model_value']:.4f}, best baseline "
                      f"{s['best_baseline']} {s['baseline_value']:.4f}, improvement "
                      f"{s['improvement']:+.4f}")
    for level, gap in summary.get("coherence", {}).items():
        console.print(f"{level}: bottom-up vs Prophet gap {gap['coherence_gap']:.1%} of the mean "
                      f"count; MAE bottom-up {gap['mae_bottom_up']:.2f}, Prophet "
                      f"{gap['mae_prophet']:.2f}")
    write_json(json_path, summary)


@app.command()
def train(experiment: ExperimentArg) -> None:
    """Backtest, fit on all data, log to MLflow and register the model as challenger."""
    from training.pipeline import train as train_model

    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("training") as status:
        report = train_model(exp, settings, experiment.read_text(encoding="utf-8"),
                             lambda m: status.update(m))
    console.print(_comparison(report.result, min(report.result.horizons)))
    console.print(f"registered {report.model_name} version {report.registered_version} as "
                  f"challenger (backtest {report.backtest_fingerprint})")


@app.command()
def promote(experiment: ExperimentArg,
            reason: Annotated[str, typer.Option(help="Why, for the record.")] = "scheduled review",
            who: Annotated[str | None, typer.Option(help="Who decides (default: user).")] = None
            ) -> None:
    """Make the challenger champion if it beats the champion on the primary metric."""
    from training.registry import promote as promote_model

    settings = Settings()
    exp = load_experiment(experiment)
    record = promote_model(settings, exp.name, exp.training.primary_metric, reason, who)
    verb = "promoted" if record["promoted"] else "kept the champion"
    console.print(f"{verb}: {record['why']} (challenger version {record['challenger_version']})")


@app.command()
def serve(experiment: Annotated[Path, typer.Argument(help="Experiment file.")] = Path(
              "experiments/synthetic_city.toml"),
          host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int | None, typer.Option(help="Port (default RISKGRID_PORT, "
                                                   "3000).")] = None) -> None:
    """Start the scoring service (BentoML) for the experiment's champion model."""
    import os

    load_experiment(experiment)  # a bad file fails here, in one line, not in the server log
    settings = Settings()
    os.environ["RISKGRID_EXPERIMENT"] = str(experiment.resolve())
    port = port or settings.port
    console.print(f"serving {experiment} on http://{host}:{port} (docs at /docs)")
    bentoml = Path(sys.executable).with_name("bentoml")
    os.execv(bentoml, [str(bentoml), "serve", "serving.service:RiskGrid", "--host", host,
                       "--port", str(port)])


keys_app = typer.Typer(no_args_is_help=True, help="API keys of the service.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(role: Annotated[str, typer.Option(help="viewer, analyst or admin.")],
                scope: Annotated[str, typer.Option(help="Area id the key sees ('city': all).")],
                label: Annotated[str | None, typer.Option(help="Whose key it is.")] = None
                ) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from serving.store import open_store

    record, token = open_store(Settings().store_url()).create_key(role, scope, label)
    console.print(f"key {record.key_id}: role {record.role}, scope {record.scope}; keep the "
                  "key below, it is not stored and cannot be shown again")
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, role, scope, label, created, revoked."""
    from serving.store import open_store

    table = Table(title="API keys")
    for column in ("key_id", "role", "scope", "label", "created_at", "revoked_at"):
        table.add_column(column)
    for k in open_store(Settings().store_url()).list_keys():
        table.add_row(k.key_id, k.role, k.scope, k.label or "", str(k.created_at)[:19],
                      str(k.revoked_at)[:19] if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from serving.store import open_store

    if not open_store(Settings().store_url()).revoke_key(key_id):
        raise InputError(f"no active key with id {key_id!r}; riskgrid keys list shows them")
    console.print(f"revoked {key_id}")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except InputError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own message and exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
