"""The experiment file: one pydantic model with a section per stage, read from TOML once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from riskgrid.errors import InputError
from riskgrid.experiment.data import AreasConfig, FeaturesConfig, SourceConfig, _Strict
from riskgrid.experiment.quality import DataQualityConfig
from riskgrid.experiment.report import REPORT_LEVELS, ReportConfig, check_level
from riskgrid.experiment.safety import SAFETY_INDICATORS, EquityConfig, SafetyConfig
from riskgrid.experiment.serving import ServingConfig
from riskgrid.experiment.training import TrainingConfig
from riskgrid.experiment.warnings import Level, OverrideReason, WarningsConfig
from riskgrid.settings import Settings

__all__ = [
    "REPORT_LEVELS", "SAFETY_INDICATORS", "AreasConfig", "DataQualityConfig", "EquityConfig",
    "Experiment", "FeaturesConfig", "Level", "OverrideReason", "ReportConfig", "SafetyConfig",
    "ServingConfig", "SourceConfig", "TrainingConfig", "WarningsConfig", "check_level",
    "load_experiment",
]


class Experiment(_Strict):
    """A whole experiment file; a section left out takes its defaults.

    The forecast horizons are declared once, in ``[features] horizons``. The warnings and the
    meeting pack use the first of them unless their sections name others, which must be among
    them.
    """

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str = ""
    areas: AreasConfig
    sources: dict[str, SourceConfig]
    features: FeaturesConfig = FeaturesConfig()
    training: TrainingConfig = TrainingConfig()
    serving: ServingConfig = ServingConfig()
    warnings: WarningsConfig = WarningsConfig()
    report: ReportConfig = ReportConfig()
    data_quality: DataQualityConfig = DataQualityConfig()
    safety_index: SafetyConfig = SafetyConfig()
    equity: EquityConfig = EquityConfig()

    # Set by load_experiment, not by the file.
    base_dir: Path = Field(Path("."), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _lead_horizon(cls, raw: Any) -> Any:
        """Warnings and the pack default to the first forecast horizon."""
        if not isinstance(raw, dict):
            return raw
        features = raw.get("features")
        horizons = features.get("horizons") if isinstance(features, dict) else None
        if not isinstance(horizons, list) or not horizons or not all(
                isinstance(h, int) and h >= 1 for h in horizons):
            return raw  # the defaults' lead horizon, or FeaturesConfig names the error
        lead = min(horizons)
        raw = dict(raw)
        for section, key, value in (("warnings", "horizons", [lead]), ("report", "horizon", lead)):
            given = raw.get(section, {})
            if isinstance(given, dict) and key not in given:
                raw[section] = {**given, key: value}
        return raw

    @model_validator(mode="after")
    def _horizons_are_forecast(self) -> Experiment:
        made = set(self.features.horizons)
        if not set(self.warnings.horizons) <= made:
            raise ValueError(f"warnings.horizons {self.warnings.horizons} must be among the "
                             f"forecast horizons [features] horizons = {self.features.horizons}")
        if self.report.horizon not in made:
            raise ValueError(f"report.horizon {self.report.horizon} must be one of the "
                             f"forecast horizons [features] horizons = {self.features.horizons}")
        return self

    @property
    def lead_horizon(self) -> int:
        """The first forecast horizon: the default of every answer that names none."""
        return self.features.horizons[0]

    def resolve(self, path: str, settings: Settings) -> Path:
        """A path of the file: ``{data_dir}`` expands; others are relative to the file."""
        expanded = path.replace("{data_dir}", str(settings.data_dir))
        candidate = Path(expanded)
        if "{data_dir}" in path or candidate.is_absolute():
            return candidate
        return (self.base_dir / candidate).resolve()

    def output_dir(self, settings: Settings) -> Path:
        """Where this experiment's tables go: DATA_DIR/NAME/."""
        return settings.data_dir / self.name


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: experiment file not found; pass a path such as "
                         "experiments/synthetic_city.toml.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); fix the syntax there.") from None
    try:
        return Experiment.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        raise InputError(f"{path}: field '{where}': {message}.") from None
