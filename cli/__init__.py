"""The riskgrid command line: one command per pipeline step, above every stage.

Each command reads the settings (once per run, when it first needs them) and its experiment
file, and passes them down; the stages it needs are imported inside it, so help and usage
errors answer at once (tests/cli/test_app_start.py, bench/cli_start.py).
"""

from __future__ import annotations

import importlib

from cli.app import app, main

# Each room registers its commands on import, in the order `riskgrid --help` lists them.
for _room in ("pipeline", "service", "warnings", "overrides", "report", "equity",
              "tracking"):
    importlib.import_module(f"cli.{_room}")

__all__ = ["app", "main"]
