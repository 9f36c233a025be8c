"""Reporting stage: the meeting pack, HTML and PDF for the risk-assessment meeting."""

from reporting.labels import labels
from reporting.pack import MeetingPack, build_pack, default_out
from reporting.render import render_html, write_report

__all__ = ["MeetingPack", "build_pack", "default_out", "labels", "render_html", "write_report"]
