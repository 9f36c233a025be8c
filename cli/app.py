"""The command line's frame: the Typer app, its consoles, the options every command shares, and
the settings, read once per run and handed to each command.

It imports only Typer and rich: help and usage errors answer before pydantic, pandas or any
stage is loaded (bench/cli_start.py measures it).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from riskgrid.errors import InputError

if TYPE_CHECKING:
    from riskgrid import Experiment, Settings

STARTED = time.monotonic()  # when the command started: progress counts from here
# Typer validates a flag left out (None) with pydantic, whose import is most of the time a
# subcommand's help takes: a group's --help, when not given, is False from this default map.
_DEFAULTS: dict = {"help": False}
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"default_map": _DEFAULTS},
                  help="Risk forecasting and early warning for grid-based social governance.")
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)

ExperimentArg = Annotated[
    Path, typer.Argument(help="Experiment file, e.g. experiments/synthetic_city.toml")]
JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Also write the summary as JSON here.")]


def command_group(name: str, help: str) -> typer.Typer:
    """The commands under ``riskgrid NAME``."""
    group = typer.Typer(no_args_is_help=True, help=help)
    app.add_typer(group, name=name)
    _DEFAULTS[name] = {"help": False}
    return group


def settings_of(ctx: typer.Context) -> Settings:
    """The run's settings (RISKGRID_* variables), read once, when a command first needs them."""
    root = ctx.find_root()
    if root.obj is None:
        from riskgrid import Settings

        root.obj = Settings()  # the one Settings of this run
    return root.obj


def load_experiment(path: Path) -> Experiment:
    """The whole experiment file, every section validated."""
    from riskgrid import load_experiment as load

    return load(path)


def write_json(path: Path | None, payload: dict) -> None:
    """The --json output other tools read, when asked for."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_strict(payload), indent=2, allow_nan=False) + "\n")


def _strict(value):
    """NaN and infinities as null: JSON has no such numbers (an undefined metric is null)."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except InputError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # usage errors carry their own message and exit code
        # typer bundles its own click, so match the exception by what it offers
        code, ctx = getattr(exc, "exit_code", None), getattr(exc, "ctx", None)
        if not (callable(getattr(exc, "show", None)) and isinstance(code, int)):
            raise
        message = exc.format_message().replace("Value error, ", "")  # pydantic's prefix
        if ctx is None or not message:  # not a usage error, or a group's help asked for
            exc.show()
        else:  # a usage error: one line too, with where the usage is
            end = "" if message.endswith((".", "?", "!")) else "."
            err_console.print(f"error: {message}{end} Try '{ctx.command_path} --help' for help.",
                              highlight=False, markup=False)
        sys.exit(code)
