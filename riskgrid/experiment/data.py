"""The data sections of an experiment file: its sources, its areas and how the panel is built."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One input file of incidents or petitions."""

    kind: Literal["incidents", "petitions"]
    path: str
    mapping: str | None = Field(None, description="Mapping TOML, relative to the experiment file.")
    start: str | None = Field(None, description="First day the source covers (default: its "
                              "first record); periods before it are missing for it, not zero.")
    end: str | None = Field(None, description="Last day the source covers (default: its last "
                            "record); periods after it are missing for it, not zero.")


class AreasConfig(_Strict):
    """Where the areas (grids) come from.

    ``table``: a file with one row per grid (and its parents). ``polygons``: a shapefile (.shp or
    .zip) or GeoJSON, one polygon per area. ``cells``: square cells of ``cell_size`` coordinate
    units covering the polygons of ``path``, each placed under the polygon holding its centre.
    """

    kind: Literal["table", "polygons", "cells"] = "table"
    path: str | None = None
    mapping: str | None = None
    id_field: str | None = Field(None, description="Polygon attribute holding the area id.")
    name_field: str | None = None
    parents: dict[Literal["community", "street", "district"], str] = Field(
        default_factory=dict, description="Hierarchy level -> polygon attribute holding its id."
    )
    cell_size: float | None = Field(None, gt=0, description="Side of a cell, in coordinate units.")
    unit: Literal["metre", "foot"] = Field("metre", description="Unit of the coordinates.")
    cover: Literal["polygons", "points", "hull"] = Field(
        "polygons", description="Cells: what they cover. polygons: the polygons of path; points: "
        "the bounding box of the incident points; hull: their convex hull. With points or hull, "
        "path may name an areas table (mapping as for kind table): each cell goes under the "
        "table area most of its points name.")
    boundary: str | None = Field(None, description="Cells from points: a polygon file they are "
                                 "clipped to (cells outside it are dropped).")
    neighbours: Literal["given", "file", "centroids", "points"] = Field(
        "given", description="given: the table's neighbours column, or shared borders of "
        "polygons; file: the adjacency list at neighbours_path; centroids: the nearest areas by "
        "centroid_x/centroid_y; points: the nearest areas by the mean of their incident points.")
    neighbours_path: str | None = Field(
        None, description="CSV of area pairs (first two columns: an area id and a neighbour's).")
    neighbours_k: int | None = Field(None, ge=1, description="Nearest areas (default 6).")
    neighbours_within: float | None = Field(
        None, gt=0, description="Instead of k nearest: every area within this distance.")

    @model_validator(mode="after")
    def _complete(self) -> AreasConfig:
        if self.kind == "cells" and self.cell_size is None:
            raise ValueError("areas of kind \"cells\" need cell_size, the side of a cell in "
                             "coordinate units (e.g. cell_size = 500)")
        if self.kind != "cells" and self.cover != "polygons":
            raise ValueError("cover applies to areas of kind \"cells\" only")
        if self.neighbours == "file" and not self.neighbours_path:
            raise ValueError("neighbours = \"file\" needs neighbours_path, the adjacency list")
        if self.path is None and not (self.kind == "cells" and self.cover != "polygons"):
            raise ValueError("path is required (only cells with cover = \"points\" or "
                             "\"hull\" can do without it)")
        return self


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
    calendar: str = Field(
        "CN", description="Holiday calendar: CN (the default, with Spring Festival and National "
        "Day terms) or any country code of the holidays package, e.g. US.")
    start: str | None = Field(None, description="First period of the panel (default: first data).")
    end: str | None = Field(None, description="Last period of the panel (default: last data).")

    @field_validator("calendar")
    @classmethod
    def _country(cls, code: str) -> str:
        import holidays

        if code.upper() not in holidays.list_supported_countries():
            raise ValueError(f"'{code}' is not a country code of the holidays package; use e.g. "
                             "CN or US")
        return code.upper()

    @field_validator("horizons", "windows")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if not values or any(v < 1 for v in values):
            raise ValueError("must be a non-empty list of positive integers")
        return sorted(set(values))

    def lag_for_season(self) -> int:
        return self.seasonal_lag or {"day": 364, "week": 52, "month": 12}[self.period]
