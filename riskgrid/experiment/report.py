"""The [report] section of an experiment file: what the meeting pack shows, and what it hides."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from riskgrid import vocabulary as C
from riskgrid.errors import InputError

REPORT_LEVELS = C.REPORT_LEVELS


class ReportConfig(BaseModel):
    """The [report] section of an experiment file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_count: int = Field(
        3, ge=1, description="Observed counts from 1 up to this minus one are shown as '<N', so "
        "no individual can be singled out (0 is shown as 0).")
    horizon: int = Field(1, ge=1, description="Forecast horizon of the ranked table, the map "
                         "and the changes (periods after the as-of period).")
    top_areas: int = Field(15, ge=1, le=200, description="Grids in the ranked table.")
    reasons: int = Field(3, ge=1, le=10, description="Reasons given for each ranked grid.")
    trend_units: int = Field(
        12, ge=0, le=60, description="Most unit trend charts (one Prophet fit each), the units "
        "at highest risk first; the city chart is always drawn.")
    history: int = Field(52, ge=4, description="Past periods shown on the trend charts.")
    changes: int = Field(10, ge=1, description="Areas listed per kind of change; the rest "
                         "are counted.")
    warnings_per_kind: int = Field(12, ge=1, description="Warnings listed per kind; the rest "
                                   "are counted.")


def check_level(level: str) -> str:
    """``level`` if the meeting pack can be made at it, else InputError naming the choices."""
    if level not in REPORT_LEVELS:
        raise InputError(f"--level {level!r} is not a level of the meeting pack; use one of "
                         f"{', '.join(REPORT_LEVELS)}")
    return level
