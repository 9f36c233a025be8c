"""The [warnings] section of an experiment file: when a warning is issued, and at what level."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from riskgrid.vocabulary import SINCE_CAP

Level = Literal["red", "orange", "yellow", "blue"]
REASON_CODE = re.compile(r"^[a-z0-9_]{1,32}$")


class OverrideReason(BaseModel):
    """One reason a meeting may give for setting an area's level itself, in both languages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    en: str = Field(min_length=1, max_length=200)
    zh: str = Field(min_length=1, max_length=200)
    direction: Literal["up", "down", "either"] = Field(
        "either", description="up: only to raise the model's level; down: only to lower it.")


# What a meeting most often knows that the data do not show yet, and why it lowers a level.
DEFAULT_OVERRIDE_REASONS = {
    "new_dispute": OverrideReason(en="A new dispute or grievance the data do not show yet",
                                  zh="出现新的矛盾纠纷，数据中尚未反映", direction="up"),
    "demolition_notice": OverrideReason(en="A demolition, land requisition or relocation notice",
                                        zh="发布拆迁、征地或搬迁公告", direction="up"),
    "sensitive_period": OverrideReason(en="A sensitive date or a large event is coming",
                                       zh="敏感节点或大型活动临近", direction="up"),
    "petition_signs": OverrideReason(en="Signs that people are organising a collective petition",
                                     zh="有群众串联集体上访的苗头", direction="up"),
    "dispute_settled": OverrideReason(en="The dispute behind the forecast has been settled",
                                      zh="相关矛盾纠纷已化解", direction="down"),
    "measures_in_place": OverrideReason(en="Measures are already in place, with someone in charge",
                                        zh="已落实管控措施，并有专人负责", direction="down"),
    "data_error": OverrideReason(en="The data behind the forecast are wrong",
                                 zh="预测依据的数据有误"),
    "other": OverrideReason(en="Another reason, given in the note", zh="其他原因（见备注）"),
}


class WarningsConfig(BaseModel):
    """The [warnings] section of an experiment file: when a warning is issued, and at what level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red: float = Field(0.8, gt=0, le=1, description="Calibrated probability from which a "
                       "forecast is red (I).")
    orange: float = Field(0.6, gt=0, le=1, description="Probability from which it is orange (II).")
    yellow: float = Field(0.4, gt=0, le=1, description="Probability from which it is yellow (III).")
    blue: float = Field(0.2, gt=0, le=1, description="Probability from which it is blue (IV).")
    alert_budget: float = Field(
        0.05, ge=0, le=1, description="Largest share of areas at red or orange per horizon; "
        "areas beyond it, ranked by probability, drop to yellow.")
    promise: dict[Level, float] = Field(
        default_factory=dict, description="What each level promises: the smallest share of "
        "its past out-of-sample forecasts (the backtest's) that came true. A level with a "
        "promise gets the lowest threshold at which the backtest kept it; the fixed threshold "
        "above is used only when there is no backtest (docs/warnings.md).")
    promise_min_forecasts: int = Field(
        20, ge=1, description="Fewest backtest forecasts a level needs before its promise "
        "can be said to be kept.")
    track_periods: int = Field(
        13, ge=1, description="The scorecard counts each level's forecasts, and how many "
        "came true, over this many latest periods.")
    horizons: list[int] = Field(
        default_factory=lambda: [1], description="Forecast horizons that issue warnings.")
    surge_level: Level = Field(
        "orange", description="Level of a street or district whose count came in above its "
        "trend forecast's upper interval.")
    surge_stream: str = Field(
        "all", description="Stream the surge frame is about when it has no 'stream' column.")
    weak_signal_level: Level = Field("yellow", description="Level of a weak-signal warning.")
    quiet_periods: int = Field(
        26, ge=1, le=SINCE_CAP, description="A collective petition after at least this many "
        "periods without one is a weak signal.")
    repeat_topic_min: int = Field(
        3, ge=1, description="Repeat petitions on one topic at or above which a rise is a weak "
        "signal.")
    backlog_rise_periods: int = Field(
        3, ge=1, description="Overdue open cases rising this many periods in a row warn.")
    backlog_min: float = Field(
        5, ge=0, description="Fewest overdue open cases for a backlog warning.")
    backlog_level: Level = Field("blue", description="Level of a backlog warning.")
    backlog_escalate_ratio: float = Field(
        2.0, gt=1, description="A backlog that grew by this factor over the rise is one level "
        "higher (blue becomes yellow).")
    override_reasons: dict[str, OverrideReason] = Field(
        default_factory=lambda: dict(DEFAULT_OVERRIDE_REASONS), description="The reason codes "
        "a meeting may give when it sets an area's level itself (code -> en, zh, direction); "
        "a list given here replaces the defaults (docs/warnings.md).")

    @field_validator("horizons")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if not values or any(v < 1 for v in values):
            raise ValueError("must be a non-empty list of positive integers, such as [1]")
        return sorted(set(values))

    @field_validator("promise")
    @classmethod
    def _shares(cls, values: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in values.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"each promise is a share above 0 and at most 1, not {bad}")
        return values

    @field_validator("override_reasons")
    @classmethod
    def _codes(cls, values: dict[str, OverrideReason]) -> dict[str, OverrideReason]:
        if not values:
            raise ValueError("must name at least one reason code, such as other")
        bad = [code for code in values if not REASON_CODE.match(code)]
        if bad:
            raise ValueError(f"reason code {bad[0]!r} must be 1-32 lower-case letters, digits "
                             "or underscores")
        return values

    @model_validator(mode="after")
    def _decreasing(self) -> WarningsConfig:
        thresholds = [self.red, self.orange, self.yellow, self.blue]
        if any(a <= b for a, b in pairwise(thresholds)):
            raise ValueError(f"thresholds must decrease from red to blue, not "
                             f"red={self.red}, orange={self.orange}, yellow={self.yellow}, "
                             f"blue={self.blue}")
        return self

    def threshold(self, level: str) -> float:
        return float(getattr(self, level))
