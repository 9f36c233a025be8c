"""The [serving] section of an experiment file: what each score carries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServingConfig(BaseModel):
    """The [serving] section of an experiment file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: float = Field(0.8, gt=0, lt=1, description="Coverage of the count interval: "
                            "a grid's is the run of counts whose probability under the model's "
                            "predictive law (negative binomial, training.uncertainty) is "
                            "nearest this; a unit's the Poisson interval of its summed count.")
    drivers: int = Field(5, ge=1, le=50, description="Drivers returned with each score.")
    snapshots: int = Field(8, ge=1, description="As-of periods kept scored in memory.")
