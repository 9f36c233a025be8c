"""The riskgrid command line: one command per pipeline step."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features import InputError, Settings, ingest, load_experiment

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Risk forecasting and early warning for grid-based social governance.")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

ExperimentArg = Annotated[Path, typer.Argument(help="Experiment file, e.g. experiments/synthetic_city.toml")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the summary as JSON here.")]


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
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=2) + "\n")


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
