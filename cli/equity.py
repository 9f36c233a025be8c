"""`riskgrid equity`: where the warnings go, against residents and incidents, how often the
same grids are flagged, and how much of the model's signal officers found themselves."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.app import ExperimentArg, JsonOpt, app, console, load_experiment, settings_of, write_json


@app.command()
def equity(ctx: typer.Context, experiment: ExperimentArg, json_path: JsonOpt = None,
           as_of: Annotated[str | None, typer.Option(
               "--as-of", help="A date in the as-of period (default: the latest complete "
               "period).")] = None) -> None:
    """Equity and feedback diagnostics per district and street (docs/equity.md): warnings per
    10,000 residents and their share against residents and incidents, repeat flags, and the
    officer-found share of incidents and of the model's signal."""
    from serving import (
        Scorer,
        equity_report,
        ledger,
        load_champion,
        load_serving_data,
        open_store,
        resolve_period,
    )

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    with console.status("scoring and reading the forecast ledger"):
        data = load_serving_data(exp, settings)
        scorer = Scorer(load_champion(settings, exp.name), data, exp)
        when = resolve_period(scorer.periods, as_of, "--as-of")
        store = open_store(settings.store_url())
        ledger.record_backtest_file(store, exp, settings)  # the past flags, once
        report = equity_report(exp, settings, store, scorer, when)
    console.print(_table(report))
    if not report["channels_known"]:
        console.print(f"no incident carries an officer channel "
                      f"({', '.join(report['officer_channels'])}): set [equity] "
                      "officer_channels to this city's patrol channels", highlight=False)
    console.print(_trend(report["trend"]))
    write_json(json_path, report)


def _table(report: dict) -> Table:
    table = Table(title=f"equity as of {report['as_of']} (flags: grids at a warning level, "
                        f"horizon {report['horizon']}; shares of the last {report['window']} "
                        "periods)")
    columns = ("unit", "residents", "flagged", "red/orange", "per 10k", "flag share",
               "resident share", "incident share", "repeat", "officer share",
               "officer signal")
    for column in columns:
        table.add_column(column, justify="left" if column == "unit" else "right")
    for row in report["rows"]:
        if row["period"] != report["as_of"]:
            continue
        table.add_row(f"{row['level']} {row['name']}", f"{row['residents']:,.0f}",
                      str(row["flagged"]), str(row["high"]), _num(row["flagged_per_10k"]),
                      _pct(row["flag_share"]), _pct(row["population_share"]),
                      _pct(row["incident_share"]), _pct(row["repeat_share"]),
                      _pct(row["officer_share"]), _pct(row.get("officer_signal_share")))
    return table


def _trend(rows: list[dict]) -> Table:
    table = Table(title="the city: newest periods against the ones before")
    for column in ("figure", "periods", "recent", "previous"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        table.add_row(row["metric"], str(row["periods"]), _num(row["recent"]),
                      _num(row["previous"]))
    return table


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
