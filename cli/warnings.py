"""`riskgrid warnings`: the stored early warnings and their lifecycle."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.table import Table

from cli.app import JsonOpt, command_group, console, settings_of, write_json
from riskgrid import InputError
from riskgrid import vocabulary as C

warnings_app = command_group("warnings", "Early warnings and their lifecycle.")
WarningIdArg = Annotated[str, typer.Argument(help="The warning's id (riskgrid warnings list).")]
WhoOpt = Annotated[str | None, typer.Option(help="Who acts (default: your user name).")]
NoteOpt = Annotated[str | None, typer.Option(help="Note for the record (no personal data).")]
Status = Literal[C.WARNING_STATUSES]
Level = Literal[C.WARNING_LEVELS]
Reason = Literal[C.REASON_CODES]


@warnings_app.command("list", epilog="Example: riskgrid warnings list --status issued --level red")
def warnings_list(ctx: typer.Context,
        status: Annotated[Status | None, typer.Option(help="Only warnings in this status.")
                          ] = None,
        level: Annotated[Level | None, typer.Option(help="Only warnings of this level.")] = None,
        json_path: JsonOpt = None) -> None:
    """Stored warnings, oldest as-of first, with their lifecycle status."""
    from serving import open_store

    rows = open_store(settings_of(ctx).store_url()).query_warnings(level=level, status=status)
    table = Table(title=f"warnings ({len(rows)})")
    for column in ("warning_id", "as_of", "period", "h", "area_id", "level", "kind", "rule",
                   "status"):
        table.add_column(column)
    for w in rows:
        table.add_row(w["warning_id"], w["as_of"], w["period"], str(w["horizon"]), w["area_id"],
                      w["level"], w["kind"], w["rule"] or "", w["status"])
    console.print(table)
    write_json(json_path, {"warnings": [{k: v for k, v in w.items() if k != "issued_at"}
                                        | {"issued_at": w["issued_at"].isoformat()}
                                        for w in rows]})


def _act(ctx: typer.Context,
         warning_id: str, action: str, who: str | None, reason: str | None = None,
         note: str | None = None) -> None:
    import getpass

    from serving import open_store

    if who is None:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            raise InputError("Your user name is unknown here; say who acts with --who NAME.") \
                from None
    store = open_store(settings_of(ctx).store_url())
    store.warning_action(warning_id, action, who, reason=reason, note=note)
    step = store.warning_history(warning_id)[-1]
    console.print(f"warning {warning_id}: {step['from_status']} -> {step['to_status']} by "
                  f"{step['who']} at {step['at'].isoformat(timespec='seconds')}")


@warnings_app.command("ack", epilog='Example: riskgrid warnings ack 5e1f0c9a7b3d2e41 --who '
                      'li.ming --note "street office informed"')
def warnings_ack(ctx: typer.Context,
                 warning_id: WarningIdArg, who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Acknowledge an issued warning: someone has seen it and owns it."""
    _act(ctx, warning_id, "ack", who, note=note)


@warnings_app.command("handle", epilog="Example: riskgrid warnings handle 5e1f0c9a7b3d2e41 "
                      "--who li.ming")
def warnings_handle(ctx: typer.Context,
                    warning_id: WarningIdArg, who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Mark an acknowledged warning handled: the response has been carried out."""
    _act(ctx, warning_id, "handle", who, note=note)


@warnings_app.command("close", epilog="Example: riskgrid warnings close 5e1f0c9a7b3d2e41 "
                      "--who li.ming")
def warnings_close(ctx: typer.Context,
                   warning_id: WarningIdArg, who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Close a handled warning: the risk is over."""
    _act(ctx, warning_id, "close", who, note=note)


@warnings_app.command("dismiss", epilog="Example: riskgrid warnings dismiss 5e1f0c9a7b3d2e41 "
                      "--reason false_alarm --who li.ming")
def warnings_dismiss(ctx: typer.Context,
        warning_id: WarningIdArg,
        reason: Annotated[Reason | None, typer.Option(help="Why (required).")] = None,
        who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Dismiss a warning that is not closed yet, with a reason code."""
    _act(ctx, warning_id, "dismiss", who, reason=reason, note=note)


@warnings_app.command("history", epilog="Example: riskgrid warnings history 5e1f0c9a7b3d2e41")
def warnings_history(ctx: typer.Context, warning_id: WarningIdArg) -> None:
    """Every step of one warning: action, statuses, who, when, reason and note."""
    from serving import open_store

    store = open_store(settings_of(ctx).store_url())
    warning = store.warning(warning_id)
    issued = warning["issued_at"].isoformat("T", "seconds")
    table = Table(title=f"warning {warning_id}: {warning['area_id']} {warning['level']} "
                        f"{warning['kind']}, issued {issued}")
    for column in ("at", "action", "from", "to", "who", "reason", "note"):
        table.add_column(column)
    for e in store.warning_history(warning_id):
        table.add_row(e["at"].isoformat(timespec="seconds"), e["action"], e["from_status"],
                      e["to_status"], e["who"], e["reason_code"] or "", e["note"] or "")
    console.print(table)
