"""The [training] section of an experiment file: targets, models, backtest and promotion."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# km2 per unit of the flagged hotspot area, by the spellings `hotspot_area` accepts.
AREA_UNITS: dict[str, float] = {
    **dict.fromkeys(("km2", "km²", "sq km", "square km", "square kilometres",
                     "square kilometers"), 1.0),
    **dict.fromkeys(("m2", "m²", "sq m", "square metres", "square meters"), 1e-6),
    **dict.fromkeys(("ha", "hectares"), 0.01),
    **dict.fromkeys(("sq mi", "mi2", "mi²", "square miles"), 2.589988110336),
    **dict.fromkeys(("acres", "acre"), 0.0040468564224),
    **dict.fromkeys(("sq ft", "ft2", "ft²", "square feet"), 0.09290304e-6),
}
# The NIJ-style hotspot metrics of a fixed flagged area (`hotspot_area`).
AREA_METRICS = frozenset({"hit_rate@area", "pai@area", "pei@area"})
_AREA = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([^0-9].*?)\s*$")


def area_km2(text: str) -> float:
    """An area such as "0.25 sq mi" or "0.65 km2" in km2 (ValueError naming the fix)."""
    match = _AREA.match(text)
    unit = match and AREA_UNITS.get(match.group(2).lower())
    if not unit or float(match.group(1)) <= 0:
        raise ValueError(f"hotspot_area must be a positive number and a unit, such as "
                         f"\"0.25 sq mi\" or \"0.65 km2\" (units: sq mi, km2, m2, ha, acres, sq ft); "
                         f"got \"{text}\"")
    return float(match.group(1)) * unit


class TrainingConfig(BaseModel):
    """How risk models are trained, backtested and compared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field("all", description="Stream whose count is forecast (all, dispute...).")
    risk_flag: Literal["collective_or_group", "above_quantile"] = Field(
        "collective_or_group",
        description="High-risk flag of a period: any collective petition or group incident, "
        "or a count above the area's own quantile (computed on data before the fold).",
    )
    flag_quantile: float = Field(0.9, gt=0, lt=1)
    primary_metric: str = "poisson_deviance"
    folds: int = Field(4, ge=1, description="Rolling origins of the backtest.")
    fold_step: int = Field(13, ge=1, description="Periods between origins (each test block).")
    min_train_periods: int = Field(52, ge=4, description="History before the first origin.")
    validation: bool = Field(
        False, description="Backtest on the validation folds instead of the reported ones: the "
        "`folds` blocks just before the first reported origin, scored only on targets that fall "
        "before it. Settings chosen by looking at backtest numbers are chosen there.")
    objective: Literal["poisson", "tweedie"] = "poisson"
    num_boost_round: int = Field(
        300, ge=10, description="Most boosting rounds. With `choose_rounds`, each booster's "
        "rounds are chosen on the inner validation slice (the latest `calibration_share` of "
        "the training periods) among a grid up to this many.")
    choose_rounds: bool = Field(
        True, description="Choose the rounds of each booster on the inner validation slice "
        "(the count model's with its shrinkage weight, by the primary metric; the risk "
        "classifier's by log-loss, or by the primary metric when that judges risk).")
    rounds_by: Literal["loss", "primary_metric"] = Field(
        "loss", description="How the count model's rounds are chosen: by its own loss (the "
        "Poisson deviance of its forecasts on the inner slice, over every area) first, then "
        "the shrinkage and anchor by the primary metric, which is steadier when that metric "
        "ranks only a few areas; or together with the shrinkage by the primary metric.")
    choice_rule: Literal["one_se", "one_se_deviance", "best"] = Field(
        "one_se", description="How the count model's candidates (rounds, shrinkage weight, "
        "anchor) are picked on the inner slice: one_se, the most regularised one (least "
        "weight on the forecast, the long-run rate, fewest rounds) whose score is within one "
        "standard error of the best, the error of their paired differences period by "
        "period; one_se_deviance, among the candidates within one standard error of the "
        "best, the one whose forecasts have the lowest Poisson deviance (the primary metric "
        "says which are as good, the counts' own proper score picks among them); best, the "
        "best score.")
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(15, ge=2, description="Leaves per tree of the count model.")
    risk_num_leaves: int = Field(
        7, ge=2, description="Leaves per tree of the risk classifier: its flags are rare, "
        "so it gets smaller trees than the count model.")
    min_data_in_leaf: int = Field(20, ge=1)
    min_sum_hessian_in_leaf: float = Field(
        1.0, ge=0, description="Least summed hessian (which counts row weights) per leaf: "
        "the leaf-size limit that stays right when sampled zero rows weigh more than one.")
    lambda_l2: float = Field(10.0, ge=0, description="L2 penalty on leaf values.")
    max_bin: int = Field(63, ge=2, description="Most histogram bins per input.")
    feature_fraction: float = Field(0.5, gt=0, le=1)
    shrinkage_weights: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], min_length=1,
        description="Candidate weights w of the count model's own forecast against the "
        "area's long-run rate r (its long-run mean at the city's recent level): the count "
        "booster trains on w * count + (1 - w) * r. With several candidates, w is chosen per "
        "fold and horizon on the inner validation slice by the primary metric (the Poisson "
        "deviance if that is a risk metric); one candidate is used as given. [1.0]: no "
        "shrinkage.")
    anchors: list[Literal["long_run", "kernel_long_run", "recent", "year", "kernel_year"]] = Field(
        default_factory=lambda: ["long_run", "kernel_long_run", "recent", "year",
                                 "kernel_year"], min_length=1,
        description="Rates the count model can be shrunk toward, chosen with the weight, "
        "each at the city's recent level: long_run (the area's long-run mean), "
        "kernel_long_run (that mean smoothed over the area's neighbour rings), recent (its "
        "decayed recent rate), year (its mean of the last 52 periods, the last-year map), "
        "kernel_year (that map smoothed by the narrowest kernel of the baselines). The "
        "long-run rate is always a candidate.")
    zero_share: float = Field(
        1.0, gt=0, le=1, description="Share of training rows without an event (zero count, "
        "no flag) the boosters train on: the same share of each area's zero rows, spread "
        "evenly over its periods, each weighted by the area's zero rows over those kept, so "
        "the losses stay unbiased area by area; lower it for large, sparse panels such as "
        "small cells.")
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    calibration_share: float = Field(
        0.25, gt=0, lt=1, description="Latest share of training periods held out as the "
        "inner validation slice: the calibrator fits on it and the rounds and the shrinkage weight are chosen on it.")
    seed: int = 7
    hotspot_area: str | None = Field(
        None, description="Area flagged each period for the NIJ-style hotspot metrics "
        "(pai@area, pei@area, hit_rate@area), e.g. \"0.25 sq mi\" or \"0.65 km2\": the areas "
        "with the highest expected count, until this area is covered. None: not scored.")

    oracle: str | None = Field(
        None, description="A synthetic city's truth (its truth/intensity.parquet, e.g. "
        "\"{data_dir}/synthetic_city/truth/intensity.parquet\"): the backtest also scores the "
        "true intensity on the model's rows (\"oracle\" and \"gap_closed\" in its JSON). "
        "Real cities have no truth: leave it out.")

    @field_validator("hotspot_area")
    @classmethod
    def _area_parses(cls, value: str | None) -> str | None:
        if value is not None:
            area_km2(value)
        return value

    @model_validator(mode="after")
    def _area_metric_has_an_area(self) -> TrainingConfig:
        if self.primary_metric in AREA_METRICS and self.hotspot_area is None:
            raise ValueError(f"primary_metric \"{self.primary_metric}\" flags a fixed area: set "
                             "hotspot_area too, e.g. hotspot_area = \"0.25 sq mi\"")
        return self

    @property
    def hotspot_km2(self) -> float | None:
        """``hotspot_area`` in km2 (None when unset)."""
        return None if self.hotspot_area is None else area_km2(self.hotspot_area)
