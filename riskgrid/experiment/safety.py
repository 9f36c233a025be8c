"""The [safety_index] and [equity] sections of an experiment file: how the safety index weighs
its indicators, and which channels are officers' own finds."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The safety index's indicators, in the order its components are listed (docs/safety_index.md).
SAFETY_INDICATORS = (
    "law_enforcement", "livelihood", "dispute", "group", "collective", "repeat", "escalated",
    "overdue_cases", "petition_backlog", "closed_late", "satisfaction",
)


class SafetyConfig(BaseModel):
    """The [safety_index] section: the indicators' weights and the window of the counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, float] = Field(
        default_factory=dict, description="Weight of each indicator (by name); an indicator "
        "not named weighs 1, so the default is equal weights; 0 leaves one out.")
    window: int = Field(13, ge=1, le=520, description="Periods of incidents and petitions "
                        "each period's index counts (13 weeks: a quarter).")

    @field_validator("weights")
    @classmethod
    def _known_and_positive(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(SAFETY_INDICATORS))
        if unknown:
            raise ValueError(f"unknown indicator {unknown[0]!r}; the indicators are "
                             f"{', '.join(SAFETY_INDICATORS)}")
        bad = {k: v for k, v in weights.items() if not (math.isfinite(v) and v >= 0)}
        if bad:
            raise ValueError(f"each weight is a number of at least 0, not {bad}")
        if weights and not any(weights.get(k, 1.0) > 0 for k in SAFETY_INDICATORS):
            raise ValueError("at least one indicator needs a weight above 0")
        return weights

    def weight(self, indicator: str) -> float:
        return float(self.weights.get(indicator, 1.0))


class EquityConfig(BaseModel):
    """The [equity] section: which channels record what officers found on patrol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    officer_channels: list[str] = Field(
        default_factory=lambda: ["grid_officer", "city_management"],
        description="Channel codes of events found by officers on patrol (grid officers' "
        "patrol app, the city-management inspectors); every other channel is reported by "
        "residents. Codes no event carries are ignored.")
    recent: int = Field(4, ge=1, le=104, description="Periods the scorecard's trend compares "
                        "with the same number before them.")
