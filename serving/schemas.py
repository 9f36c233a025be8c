"""The API's response shapes and request bounds: the stable interface dashboards rely on."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field


class Driver(BaseModel):
    feature: str
    label_en: str
    label_zh: str
    value: float | None
    contribution: float = Field(description="TreeSHAP contribution to the log expected count.")


class Score(BaseModel):
    area_id: str = Field(description="A grid, or a community, street, district or the city "
                         "scored from its grids.")
    horizon: int
    expected_count: float = Field(description="A unit's is the sum of its grids'.")
    interval: list[float] = Field(description="[low, high] count interval (see model_info); a "
                                  "unit's is the Poisson interval of its summed count.")
    risk_probability: float = Field(description="A unit's is the chance that at least one of "
                                    "its grids is high-risk, 1 - prod(1 - p), assuming the "
                                    "grids' flags independent.")
    risk_level: str = Field(description="red, orange, yellow, blue or none")
    rank: int = Field(description="1 = highest risk among the units of the same level in the "
                      "period.")
    percentile: float
    drivers: list[Driver] = Field(description="A unit's: the features whose contributions "
                                  "summed over its grids are largest (value: mean over them).")


class ScoreResponse(BaseModel):
    model_version: str
    as_of: str
    scores: list[Score]


class Change(Driver):
    previous_value: float | None


class Previous(BaseModel):
    as_of: str
    expected_count: float
    risk_probability: float
    risk_level: str


class ExplainResponse(BaseModel):
    model_version: str
    as_of: str
    area_id: str
    horizon: int
    base_value: float
    log_rate: float
    expected_count: float
    risk_probability: float
    risk_level: str
    contributions: list[Driver]
    previous: Previous | None
    changes: list[Change] = Field(description="Contribution changes since the previous "
                                  "period's forecast, largest first.")


class WhatIfScore(BaseModel):
    row: int
    horizon: int
    expected_count: float
    interval: list[float]
    risk_probability: float
    risk_level: str
    drivers: list[Driver]


class WhatIfResponse(BaseModel):
    model_version: str
    as_of: str = Field(description="Latest period of the served data (the rows are yours).")
    scores: list[WhatIfScore]


class TrendPoint(BaseModel):
    period: str
    forecast: float
    low: float
    high: float
    observed: float | None
    is_forecast: bool


class ForecastResponse(BaseModel):
    model_version: str
    as_of: str
    unit_id: str
    level: str
    stream: str
    interval: float
    points: list[TrendPoint]


class WarningItem(BaseModel):
    warning_id: str
    area_id: str
    level: str
    kind: str
    rule: str | None = None
    period: str
    as_of: str
    horizon: int
    model_version: str | None
    score: float
    evidence: dict[str, Any]
    response_en: str
    response_zh: str
    status: str
    issued_at: str


class WarningsResponse(BaseModel):
    model_version: str
    as_of: str
    warnings: list[WarningItem]


class Area(BaseModel):
    area_id: str
    name: str
    level: str
    parents: dict[str, str] = Field(description="Ids of the units above: community, street, "
                                    "district.")
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry in the experiment's "
                                            "projected coordinates (metres or feet), if known.")


class AreasResponse(BaseModel):
    model_version: str
    as_of: str
    areas: list[Area]


class WarningActionResponse(BaseModel):
    model_version: str
    as_of: str
    warning: WarningItem
    history: list[dict[str, Any]]


class ModelInfo(BaseModel):
    model_version: str
    as_of: str
    name: str
    experiment: str
    source: str = Field(description="registry, or local copy when the registry was down")
    loaded_at: str
    period: str
    horizons: list[int]
    target: str
    risk_flag: str
    features: list[str]
    levels: dict[str, int] = Field(description="Number of units at each level of the hierarchy.")
    periods: list[str] = Field(description="[first, last] as-of period the service can score.")
    data_fingerprint: str
    backtest: dict[str, Any] = Field(description="The training run's backtest: model, "
                                     "baselines and skill by horizon.")
    warnings_job: dict[str, Any] = Field(description="The background run that issues the "
                                         "latest period's warnings: running, retrying (the "
                                         "database is unreachable), done or failed.")


AreaIds = Annotated[list[str] | None, Field(min_length=1, max_length=100_000)]
Horizons = Annotated[list[int], Field(min_length=1, max_length=50)]
