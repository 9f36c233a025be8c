"""The meeting pack: HTML and PDF for the risk-assessment meeting (``riskgrid report``)."""

from __future__ import annotations

from typing import Any

from serving.meeting.config import ReportConfig

__all__ = ["MeetingPack", "ReportConfig", "build_pack", "render_html", "write_report"]

# serving.config imports ReportConfig from here, and the pack imports serving.config: the rest
# of the API is imported on first use so that neither import waits for the other.
_LAZY = {"MeetingPack": "pack", "build_pack": "pack", "render_html": "render",
         "write_report": "render"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"serving.meeting.{_LAZY[name]}"), name)
