"""The [data_quality] section of an experiment file: when the data, not the area, raise an alarm."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DataQualityConfig(BaseModel):
    """The [data_quality] section: how the data alarms judge each source's volumes
    (docs/data_quality.md explains every figure)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(26, ge=4, description="Periods of its own history each count is "
                        "compared with (their median, scaled by how the rest of the source "
                        "moved that period).")
    min_history: int = Field(8, ge=2, description="Fewest past periods a series needs before "
                             "it can raise an alarm.")
    drop_below: float = Field(0.25, gt=0, lt=1, description="A count below this share of what "
                              "its history expects is a drop.")
    jump_above: float = Field(2.0, gt=1, description="A count above this multiple of what its "
                              "history expects is a jump.")
    persist: int = Field(2, ge=1, description="Periods in a row a drop or a jump must last: "
                         "a change in how the data arrive lasts, a holiday or a storm passes.")
    min_expected: float = Field(10.0, gt=0, description="Fewest records a period (or a silent "
                                "run of periods) must have been expected to hold before its "
                                "drop, jump or silence is an alarm; also the fewest rows a new "
                                "category value needs.")
    no_data_expected: float = Field(30.0, gt=0, description="Fewest records an area's silent "
                                    "run must have been expected to hold (from every source "
                                    "together) before its zeros are called no data.")
    recent_periods: int = Field(4, ge=1, description="An alarm stays listed for this many "
                                "periods after its last affected period (the features' shortest "
                                "window still holds those periods).")

    @model_validator(mode="after")
    def _history_fits(self) -> DataQualityConfig:
        if self.min_history > self.window:
            raise ValueError(f"min_history {self.min_history} must not exceed window "
                             f"{self.window}")
        return self
