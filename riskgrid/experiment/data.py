"""The data sections of an experiment file: its sources, its areas and how the panel is built."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One input file of incidents or petitions."""

    kind: Literal["incidents", "petitions"]
    path: str
    mapping: str | None = Field(None, description="Mapping TOML, relative to the experiment file.")


class AreasConfig(_Strict):
    """Where the areas (grids) come from.

    ``table``: a file with one row per grid (and its parents). ``polygons``: a shapefile (.shp or
    .zip) or GeoJSON, one polygon per area. ``cells``: square cells of ``cell_size`` coordinate
    units covering the polygons of ``path``, each placed under the polygon holding its centre.
    """

    kind: Literal["table", "polygons", "cells"] = "table"
    path: str
    mapping: str | None = None
    id_field: str | None = Field(None, description="Polygon attribute holding the area id.")
    name_field: str | None = None
    parents: dict[Literal["community", "street", "district"], str] = Field(
        default_factory=dict, description="Hierarchy level -> polygon attribute holding its id."
    )
    cell_size: float | None = Field(None, gt=0, description="Side of a cell, in coordinate units.")
    unit: Literal["metre", "foot"] = Field("metre", description="Unit of the coordinates.")


class FeaturesConfig(_Strict):
    """How the training panel is built."""

    period: Literal["day", "week", "month"] = "week"
    horizons: list[int] = Field(default_factory=lambda: [1, 2, 3, 4])
    windows: list[int] = Field(
        default_factory=lambda: [4, 13], description="Rolling windows, in periods."
    )
    ewm_halflife: float = Field(4.0, gt=0, description="Half-life of the EWMA, in periods.")
    seasonal_lag: int | None = Field(
        None, description="Lag of the same period last year (default: 52 weeks, 12 months, 364 days)."
    )
    handling_deadline_days: float = Field(
        15.0, gt=0, description="An incident still open this many days after its report is overdue."
    )
    backlog_days: float = Field(
        90.0, gt=0, description="A petition still open this many days after filing is backlog (积案)."
    )
    start: str | None = Field(None, description="First period of the panel (default: first data).")
    end: str | None = Field(None, description="Last period of the panel (default: last data).")

    @field_validator("horizons", "windows")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if not values or any(v < 1 for v in values):
            raise ValueError("must be a non-empty list of positive integers")
        return sorted(set(values))

    def lag_for_season(self) -> int:
        return self.seasonal_lag or {"day": 364, "week": 52, "month": 12}[self.period]
