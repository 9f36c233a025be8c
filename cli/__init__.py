"""The riskgrid command line: one command per pipeline step, above every stage.

Each command reads the settings (once, when the command line starts) and its experiment file,
and passes them down; the stages it needs are imported inside it, so help and usage errors
answer at once.
"""

from __future__ import annotations

from cli import pipeline, report, service, warnings  # noqa: F401 - each registers its commands
from cli.app import app, main

__all__ = ["app", "main"]
