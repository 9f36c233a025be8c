"""Where the areas come from: a table, polygons, cells over polygons, or cells over the points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.accounting import SourceResult, account
from features.areas import (
    AreaIndex,
    _geometry_columns,
    areas_from_table,
    covariate_names,
    finalize_areas,
    read_polygon_areas,
)
from features.cells import cell_grid, cell_parents, cells_under_table
from features.contracts import conform
from features.geo import read_polygons
from features.io import read_source
from features.mapping import Mapping, apply_mapping, load_mapping
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings

Sources = dict[str, tuple[Path, Mapping, pd.DataFrame]]


@dataclass(frozen=True)
class LoadedAreas:
    """The areas' accounting, the point index, the clean areas and their declared covariates."""

    result: SourceResult
    index: AreaIndex
    areas: pd.DataFrame
    covariates: dict[str, tuple[str, str]]


def load_areas(experiment: Experiment, settings: Settings, sources: Sources) -> LoadedAreas:
    """The experiment's areas; cells over the points read the incident sources' coordinates."""
    config = experiment.areas
    path = experiment.resolve(config.path, settings) if config.path else None
    mapping = load_mapping(experiment.resolve(config.mapping, settings)
                           if config.mapping else None)
    covariates = covariate_names(mapping)
    table = None
    if config.kind == "table" or (config.kind == "cells" and config.cover != "polygons" and path):
        raw = read_source(path, mapping.format, mapping.encoding, mapping.delimiter)
        try:
            table = areas_from_table(raw, mapping)
        except InputError as exc:
            raise InputError(f"{path}: {exc}.") from None
        if config.kind == "table":
            return LoadedAreas(table, AreaIndex(), finalize_areas(table.clean, tuple(covariates)),
                               covariates)
    if config.kind == "cells" and config.cover != "polygons":
        return _cells_over_points(experiment, settings, sources, table, covariates)
    try:
        result, index = read_polygon_areas(config, path)
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(str(path)) else f"{path}: {message}.") \
            from None
    return LoadedAreas(result, index, finalize_areas(result.clean), {})


def _cells_over_points(experiment: Experiment, settings: Settings, sources: Sources,
                       table: SourceResult | None,
                       covariates: dict[str, tuple[str, str]]) -> LoadedAreas:
    config = experiment.areas
    points = incident_points(experiment, sources)
    boundary = None
    if config.boundary:
        boundary = read_polygons(experiment.resolve(config.boundary, settings))
        boundary = boundary["geometry"].to_numpy()
    size = float(config.cell_size)
    cells = cell_grid(points[C.X].to_numpy(float), points[C.Y].to_numpy(float), size,
                      config.cover, boundary)
    parents = finalize_areas(table.clean, tuple(covariates)) if table is not None else None
    named = (points[C.AREA_ID].isin(parents[C.AREA_ID]) if parents is not None
             else pd.Series(False, index=points.index))
    parent = cell_parents(cells, points.assign(**{C.AREA_ID: points[C.AREA_ID].where(named)}),
                          size)
    frame = _geometry_columns(cells_under_table(cells, parent, parents, tuple(covariates)),
                              config)
    typed, reasons = conform(frame, "areas")
    for column in frame.columns:
        if column not in typed.columns:
            typed[column] = frame[column]
    cell_result = account(typed, reasons, pd.Series(False, index=typed.index), frame)
    areas = finalize_areas(cell_result.clean, tuple(covariates) if table is not None else ())
    return LoadedAreas(table if table is not None else cell_result,
                       AreaIndex(cell_size=size), areas,
                       covariates if table is not None else {})


def incident_points(experiment: Experiment, sources: Sources) -> pd.DataFrame:
    """``x``, ``y`` and the mapped ``area_id`` of every incident row (as numbers and text)."""
    frames = []
    for name, (path, mapping, raw) in sources.items():
        if experiment.sources[name].kind != "incidents":
            continue
        try:
            mapped, _ = apply_mapping(raw, mapping)
        except InputError as exc:
            raise InputError(f"{path}: {exc}.") from None
        frame = pd.DataFrame(index=mapped.index)
        for column in (C.X, C.Y):
            values = mapped[column] if column in mapped else pd.Series(np.nan, mapped.index)
            frame[column] = pd.to_numeric(values, errors="coerce")
        area = mapped[C.AREA_ID] if C.AREA_ID in mapped else pd.Series(None, mapped.index,
                                                                        dtype=object)
        frame[C.AREA_ID] = area.astype("string").str.strip().astype(object)
        frames.append(frame)
    if not frames:
        raise InputError("areas of kind \"cells\" with cover = \"points\" need an incident "
                         "source with x and y")
    return pd.concat(frames, ignore_index=True)


def adjacency_pairs(experiment: Experiment, settings: Settings) -> pd.DataFrame | None:
    """The adjacency list of ``neighbours = "file"`` (None for other neighbour methods)."""
    config = experiment.areas
    if config.neighbours != "file":
        return None
    path = experiment.resolve(config.neighbours_path, settings)
    return read_source(path, "csv")

