"""`riskgrid overrides`: a meeting sets an area's level for a forecast period itself."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.app import ExperimentArg, JsonOpt, app, console, load_experiment, settings_of, write_json
from riskgrid import InputError

overrides_app = typer.Typer(no_args_is_help=True, help="Levels a meeting sets itself, with a "
                            "reason code and a note (docs/warnings.md).")
app.add_typer(overrides_app, name="overrides")
AreaArg = Annotated[str, typer.Argument(help="A grid, community, street or district id.")]
PeriodArg = Annotated[str, typer.Argument(help="A date in the forecast period, YYYY-MM-DD.")]
NoteOpt = Annotated[str, typer.Option(help="Why: what the meeting knows (no personal data).")]
WhoOpt = Annotated[str | None, typer.Option(help="Who sets it (default: your user name).")]


def _who(who: str | None) -> str:
    import getpass

    if who is not None:
        return who
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise InputError("Your user name is unknown here; say who sets it with --who NAME.") \
            from None


def _request(ctx: typer.Context, experiment, area: str, period: str, **fields) -> dict:
    """Check the area and period against the experiment's data, then set or clear."""
    import pandas as pd

    from features import read_clean, read_features
    from riskgrid import vocabulary as C
    from serving import open_store, overrides

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    folder = exp.output_dir(settings)
    areas = read_clean(folder, events=False).areas
    known = {C.CITY} | {str(v) for lv in C.LEVELS if C.LEVEL_ID[lv] in areas
                        for v in areas[C.LEVEL_ID[lv]].dropna()}
    if area not in known:
        raise InputError(f"{area} is not an area of {exp.name}; use a grid, community, street "
                         "or district id of its areas table, or city.")
    latest = pd.Timestamp(read_features(folder, tables=()).meta["last_period"])
    store = open_store(settings.store_url())

    def model(day: pd.Timestamp, _h: int) -> tuple[str | None, str | None]:
        return overrides.ledger_level(store, exp.name, area, day)

    return overrides.override_request(store, exp, area, period, latest=latest,
                                      horizons=exp.features.horizons, model=model, **fields)


def _said(event: dict) -> str:
    if event["action"] == "clear":
        return (f"{event['area_id']} {event['period']}: override cleared by {event['who']} at "
                f"{event['at']}; the model's level stands")
    model = f" (the model: {event['model_level']})" if event["model_level"] else ""
    return (f"{event['area_id']} {event['period']}: {event['level']}{model}, "
            f"{event['reason_code']}, set by {event['who']} at {event['at']}")


@overrides_app.command("set")
def overrides_set(ctx: typer.Context, experiment: ExperimentArg, area_id: AreaArg,
                  period: PeriodArg,
                  level: Annotated[str, typer.Argument(
                      help="red, orange, yellow, blue or none.")],
                  reason: Annotated[str, typer.Option(
                      help="A reason code (riskgrid overrides reasons).")],
                  note: NoteOpt, who: WhoOpt = None) -> None:
    """Set an area's level for a forecast period, replacing the model's."""
    done = _request(ctx, experiment, area_id, period, level=level, reason_code=reason,
                    note=note, who=_who(who), clear=False)
    console.print(_said(done["override"]), highlight=False)


@overrides_app.command("clear")
def overrides_clear(ctx: typer.Context, experiment: ExperimentArg, area_id: AreaArg,
                    period: PeriodArg, note: NoteOpt, who: WhoOpt = None) -> None:
    """Clear an override: the model's level stands again (the override stays in the history)."""
    done = _request(ctx, experiment, area_id, period, level=None, reason_code=None, note=note,
                    who=_who(who), clear=True)
    console.print(_said(done["override"]), highlight=False)


@overrides_app.command("list")
def overrides_list(ctx: typer.Context, experiment: ExperimentArg,
                   history: Annotated[bool, typer.Option(
                       "--history", help="Every override set or cleared, oldest first.")] = False,
                   json_path: JsonOpt = None) -> None:
    """The overrides in force, by period (or, with --history, every one set or cleared)."""
    from serving import open_store, overrides

    exp = load_experiment(experiment)
    store = open_store(settings_of(ctx).store_url())
    rows = store.override_history(exp.name) if history else store.overrides(exp.name)
    rows = [overrides.described(r, exp) for r in rows]
    table = Table(title=f"{'every override' if history else 'overrides in force'} ({len(rows)})")
    for column in ("period", "area_id", "action", "level", "model_level", "reason", "who", "at",
                   "note"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["period"], r["area_id"], r["action"], r["level"] or "",
                      r["model_level"] or "", r["reason_code"] or "", r["who"], r["at"],
                      r["note"] or "")
    console.print(table)
    write_json(json_path, {"experiment": exp.name, "overrides": rows})


@overrides_app.command("reasons")
def overrides_reasons(experiment: ExperimentArg) -> None:
    """The reason codes an override may give ([warnings] override_reasons)."""
    exp = load_experiment(experiment)
    table = Table(title=f"override reasons of {exp.name}")
    for column in ("code", "for", "en", "zh"):
        table.add_column(column)
    for code, reason in exp.warnings.override_reasons.items():
        table.add_row(code, {"up": "raising", "down": "lowering"}.get(reason.direction, "either"),
                      reason.en, reason.zh)
    console.print(table)
