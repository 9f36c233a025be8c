"""The API's response shapes and request bounds: the stable interface dashboards rely on."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field


class Driver(BaseModel):
    feature: str
    label_en: str
    label_zh: str
    value: float | None
    typical: float | None = Field(None, description="The feature's mean over every grid of "
                                  "the city in the same period: what 'usually' means.")
    contribution: float = Field(description="TreeSHAP contribution to the log expected count; "
                                "exp(contribution) - 1 is its relative effect on the forecast.")


class OverrideMark(BaseModel):
    level: str = Field(description="The level the meeting set: red, orange, yellow, blue or "
                       "none.")
    reason_code: str
    reason_en: str | None
    reason_zh: str | None
    note: str
    who: str
    at: str = Field(description="When it was set (ISO, UTC).")


class AlarmFlag(BaseModel):
    kind: str = Field(description="late, drop, jump, recoding, category_gone, category_new or "
                      "no_data (docs/data_quality.md); /data_quality has the sentence.")
    source: str | None
    channel: str | None
    area_id: str = Field(description="The area the alarm is about ('city' for a whole "
                         "source); it lies in the scored area or the scored area lies in it.")
    since: str
    until: str


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
    model_level: str | None = Field(None, description="The model's own level; risk_level "
                                    "differs from it where a meeting set the level itself.")
    override: OverrideMark | None = Field(None, description="The override in force for the "
                                          "area and the forecast period, if any.")
    data_alarms: list[AlarmFlag] = Field(default_factory=list, description="Data alarms this "
                                         "forecast rests on: a silent or broken source of the "
                                         "area or of a unit it lies in, or an area inside it "
                                         "with no data.")


class ScoreResponse(BaseModel):
    model_version: str
    as_of: str
    scores: list[Score]


class SafetyComponent(BaseModel):
    name: str
    label_en: str
    label_zh: str
    value: float | None = Field(description="The component's score, 0-100: 100 with no such "
                                "events, 50 at the level's typical figure, 33 at twice it.")
    weight: float = Field(description="Its share of this unit's index: the configured weights "
                          "renormalised over the components the unit has (0: not known here).")
    figure: float | None = Field(description="The figure scored: per 10,000 residents (over "
                                 "the window, or open at the period's end), a share, or the "
                                 "mean rating 1-5.")
    typical: float | None = Field(description="The level's typical figure (the median over "
                                  "its units and periods), which scores 50.")


class SafetyValue(BaseModel):
    area_id: str
    level: str
    value: float | None = Field(description="The safety index, 0-100, 100 the safest: the "
                                "weighted mean of the component scores.")
    rank: int | None = Field(description="1 = the safest among the units of its level.")
    units: int = Field(description="Units of its level that the rank is among.")
    change: float | None = Field(description="Index points against the previous period.")
    change_year: float | None = Field(description="Index points against the same period a "
                                      "year before.")
    forecast: float | None = Field(description="Next period's index, from the model's "
                                   "expected counts (docs/safety_index.md).")
    components: list[SafetyComponent]


class SafetyResponse(BaseModel):
    model_version: str
    as_of: str
    window: int = Field(description="Periods of events each index counts.")
    left_out: list[str] = Field(description="Indicators the city's data lacks, left out (the "
                                "other weights renormalised).")
    index: list[SafetyValue]


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


class LedgerPeriod(BaseModel):
    as_of: str
    vintage_id: str
    source: str = Field(description="api, batch, report or backtest: who issued the forecasts")
    model_version: str
    issued_at: str
    forecasts: int


class PeriodsResponse(BaseModel):
    model_version: str
    as_of: str = Field(description="The latest period: /score answers it live.")
    periods: list[LedgerPeriod] = Field(description="As-of periods with forecasts in the "
                                        "ledger, newest first (one vintage each).")


class LedgerScoresResponse(BaseModel):
    model_version: str = Field(description="The model serving now (the vintage names its own).")
    as_of: str
    vintage: LedgerPeriod
    scores: list[Score] = Field(description="As issued then; drivers are not kept.")


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


class OverrideEvent(BaseModel):
    event_id: int
    experiment: str
    area_id: str
    period: str = Field(description="The forecast period (its first day) the level is for.")
    action: str = Field(description="set or clear")
    level: str | None
    model_level: str | None = Field(description="The model's level when it was set.")
    model_version: str | None
    reason_code: str | None
    reason_en: str | None
    reason_zh: str | None
    note: str | None
    who: str
    at: str


class OverrideResponse(BaseModel):
    model_version: str
    as_of: str
    override: OverrideEvent
    history: list[OverrideEvent] = Field(description="Every override set or cleared for the "
                                         "area and period, oldest first.")


class DataAlarm(BaseModel):
    kind: str = Field(description="late, drop, jump, recoding, category_gone, category_new or "
                      "no_data")
    source: str | None = Field(description="incidents or petitions (none for no_data: every "
                               "source)")
    channel: str | None = Field(description="The channel, or none for every channel.")
    column: str | None = Field(description="category, topic or channel, for the category "
                               "kinds.")
    category: str | None = Field(description="The category (or channel) code that went silent "
                                 "or appeared.")
    value: str | None = Field(description="The unknown value rows came with (recoding, "
                              "category_new).")
    area_id: str
    level: str
    since: str = Field(description="First period affected.")
    until: str = Field(description="Last period affected so far.")
    detected: str = Field(description="Period from which the alarm holds.")
    periods: int
    observed: float = Field(description="Records per period while it lasted.")
    usual: float = Field(description="Records per period its history expected.")
    records: float = Field(description="Records in the affected periods.")
    sentence_en: str
    sentence_zh: str


class DataQualityResponse(BaseModel):
    model_version: str
    as_of: str
    area_id: str
    alarms: list[DataAlarm] = Field(description="Data alarms (not risk warnings) that concern "
                                    "the area, listed until recent_periods after they end.")


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
    levels: dict[str, int] = Field(description="Number of units at each level of the hierarchy "
                                   "within the key's scope.")
    periods: list[str] = Field(description="[first, last] as-of period the service can score.")
    data_fingerprint: str
    backtest: dict[str, Any] = Field(description="The training run's backtest: model, "
                                     "baselines and skill by horizon (city-wide figures: "
                                     "empty for a key scoped below the city).")
    warnings_job: dict[str, Any] = Field(description="The background run that issues the "
                                         "latest period's warnings: running, retrying (the "
                                         "database is unreachable), done or failed; the "
                                         "number of new warnings only for city-wide keys.")


# --- request bounds: every string and list a request carries is bounded here, so a request of
# any size is refused (400, naming the field) before any work is spent on it. The gate bounds
# the body as a whole (serving/gate.py).
MAX_ID_CHARS = 100
MAX_LIST = 100_000  # ids or feature rows; RISKGRID_MAX_BATCH_AREAS is the tighter cap (413)
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,100}$"  # printable, one line (ids are the experiment's)
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # an ISO date, no time and no time zone
WORD_PATTERN = r"^[a-z0-9_]{1,32}$"  # levels, kinds, streams, actions, reason codes

AreaId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN,
                              description="An area id of the experiment, or 'city'.")]
AreaIds = Annotated[list[AreaId] | None, Field(min_length=1, max_length=MAX_LIST)]
Day = Annotated[str, Field(min_length=10, max_length=10, pattern=DAY_PATTERN,
                           description="A date, YYYY-MM-DD.")]
Word = Annotated[str, Field(min_length=1, max_length=32, pattern=WORD_PATTERN)]
Horizon = Annotated[int, Field(ge=1, le=520)]
Horizons = Annotated[list[Horizon], Field(min_length=1, max_length=50)]
Drivers = Annotated[int, Field(ge=0, le=1000, description="How many drivers (1 to 50).")]
WarningId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Note = Annotated[str, Field(max_length=500)]
FeatureName = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
FeatureValue = float | int | bool | Annotated[str, Field(max_length=MAX_ID_CHARS)] | None
FeatureRow = Annotated[dict[FeatureName, FeatureValue], Field(max_length=2000)]
FeatureRows = Annotated[list[FeatureRow], Field(min_length=1, max_length=MAX_LIST)]
