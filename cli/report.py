"""`riskgrid report`: the meeting pack for one as-of period."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.app import ExperimentArg, app, load_experiment, settings_of
from riskgrid import vocabulary as C

ReportLevel = Literal[C.REPORT_LEVELS]
Lang = Literal[C.REPORT_LANGS]


@app.command(epilog="Example: riskgrid report experiments/synthetic_city.toml --level street "
             "--lang en --as-of 2025-06-30")
def report(ctx: typer.Context, experiment: ExperimentArg,
           as_of: Annotated[str | None, typer.Option(
               "--as-of", help="A date in the as-of period (default: the latest complete "
               "period).")] = None,
           level: Annotated[ReportLevel, typer.Option(
               help="Units of the map and trend charts.")] = "district",
           lang: Annotated[Lang, typer.Option(help="Language of the pack.")] = "zh",
           out: Annotated[Path | None, typer.Option(
               help="Output folder (default: DATA_DIR/NAME/reports/AS_OF-LEVEL-LANG/).")] = None,
           since: Annotated[str | None, typer.Option(
               help="A date in the period of the last meeting (default: the period before "
               "the as-of period).")] = None) -> None:
    """Write the meeting pack: report.html (self-contained) and report.pdf (headless Chromium)."""
    settings = settings_of(ctx)
    exp = load_experiment(experiment)  # a bad file fails before the slow imports below
    from cli.progress import progress
    from reporting import build_pack, default_out, write_report

    with progress("report") as step:
        step("assembling the meeting pack")
        pack = build_pack(exp, settings, level=level, as_of=as_of, since=since)
        step("rendering the HTML and printing the PDF")
        html, pdf = write_report(pack, lang, out or default_out(settings, exp, pack, lang))
    print(f"html {html}")
    print(f"pdf  {pdf}")
