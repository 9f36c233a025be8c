"""`riskgrid report`: the meeting pack for one as-of period."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import ExperimentArg, app, console, load_experiment, settings_of


@app.command()
def report(ctx: typer.Context, experiment: ExperimentArg,
           as_of: Annotated[str | None, typer.Option(
               "--as-of", help="A date in the as-of period (default: the latest complete "
               "period).")] = None,
           level: Annotated[str, typer.Option(
               help="Units of the map and trend charts: district, street or community.")
           ] = "district",
           lang: Annotated[str, typer.Option(help="Language: zh or en.")] = "zh",
           out: Annotated[Path | None, typer.Option(
               help="Output folder (default: DATA_DIR/NAME/reports/AS_OF-LEVEL-LANG/).")] = None,
           since: Annotated[str | None, typer.Option(
               help="A date in the period of the last meeting (default: the period before "
               "the as-of period).")] = None) -> None:
    """Write the meeting pack: report.html (self-contained) and report.pdf (headless Chromium)."""
    from reporting import labels
    from riskgrid.experiment import check_level

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    check_level(level)  # before the slow imports below: a typo fails at once
    labels(lang)
    from reporting import build_pack, default_out, write_report

    with console.status("assembling the meeting pack") as status:
        pack = build_pack(exp, settings, level=level, as_of=as_of, since=since)
        status.update("rendering the HTML and printing the PDF")
        html, pdf = write_report(pack, lang, out or default_out(settings, exp, pack, lang))
    print(f"html {html}")
    print(f"pdf  {pdf}")
