"""The areas table: grids and their parents, from a table, from polygons, or as square cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from features.accounting import BLANK_REASON, SourceResult, account, blank_rows
from features.contracts import AreasSchema, conform, finalize
from features.geo import SQ_KM_PER_SQ_UNIT, adjacency, read_polygons, square_cells
from features.mapping import Mapping, apply_mapping, static_name
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import AreasConfig


@dataclass(frozen=True)
class AreaIndex:
    """What point assignment needs: polygons with their area ids, or the cell size."""

    polygons: np.ndarray | None = None
    ids: np.ndarray | None = None
    cell_size: float | None = None


def complete_hierarchy(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill absent parent levels from the level below, and absent names from ids.

    A source without communities, say, gets one community per grid, so every level exists and
    aggregation up the hierarchy works the same for every city.
    """
    out = frame.copy()
    below = C.AREA_ID
    for level in ("grid", "community", "street", "district"):
        id_col, name_col = C.LEVEL_ID[level], C.LEVEL_NAME[level]
        if id_col not in out.columns:
            out[id_col] = out[below]
        out[id_col] = out[id_col].where(out[id_col].notna(), out[below])
        if name_col not in out.columns:
            out[name_col] = None
        out[name_col] = out[name_col].where(out[name_col].notna(), out[id_col])
        below = id_col
    return out


def areas_from_table(raw: pd.DataFrame, mapping: Mapping) -> SourceResult:
    """Areas given as a table of grids: map, check, fill the hierarchy, check neighbour ids."""
    mapped, reasons = apply_mapping(raw, mapping)
    if C.AREA_ID not in mapped.columns:
        raise InputError(f"required column '{C.AREA_ID}' is missing; map the grid id column to "
                         f"it under [columns] of the mapping file")
    blank = blank_rows(raw)
    duplicates = raw.duplicated(keep="first") & ~blank
    typed, contract_reasons = conform(mapped, "areas")
    reasons = reasons.where(~blank, BLANK_REASON)
    reasons = reasons.where(reasons != "", contract_reasons)
    typed, static_reasons = _covariates(typed, mapped, mapping)
    reasons = reasons.where(reasons != "", static_reasons)
    repeated = typed[C.AREA_ID].duplicated(keep="first") & ~duplicates & (reasons == "")
    reasons[repeated] = "column area_id: repeats the id of an earlier row; give each grid one row"
    typed = complete_hierarchy(typed)
    known = set(typed.loc[(reasons == "") & ~duplicates, C.AREA_ID])
    if C.NEIGHBOURS in typed.columns:
        def unknown(cell: str | None) -> list[str]:
            return [n for n in (cell or "").split(";") if n and n not in known]

        missing = typed[C.NEIGHBOURS].map(unknown)
        bad = (missing.str.len() > 0) & (reasons == "") & ~duplicates
        reasons[bad] = [f"column neighbours: '{m[0]}' is not an area id of this table"
                        for m in missing[bad]]
    return account(typed, reasons, duplicates, mapped)


def covariate_names(mapping: Mapping) -> dict[str, tuple[str, str]]:
    """Feature name -> (English, Chinese) of each covariate the areas mapping declares."""
    out = {}
    for column, spec in mapping.static.items():
        name = static_name(column, spec)
        out[name] = (spec.en or f"{column} (area covariate from the areas table)",
                     spec.zh or f"{column}(区域基础数据)")
    return out


def _covariates(typed: pd.DataFrame, mapped: pd.DataFrame,
                mapping: Mapping) -> tuple[pd.DataFrame, pd.Series]:
    """Declared covariates parsed as numbers; a present value that is not one is a reason."""
    reasons = pd.Series("", index=typed.index, dtype=object)
    reserved = set(AreasSchema.to_schema().columns)
    for column, spec in mapping.static.items():
        name = static_name(column, spec)
        if name in reserved:
            raise InputError(f"[static.\"{column}\"] would be the feature '{name}', which is a "
                             "column of the areas contract; give it another name")
        if name not in mapped.columns:
            raise InputError(f"[static] names the column '{column}', which the file does not "
                             "have; fix the column name in the mapping file")
        text = mapped[name].astype("string").str.strip()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = values.isna() & text.notna() & (text != "") & (reasons == "")
        reasons[bad] = [f"column {column}: '{v}' is not a number" for v in text[bad]]
        typed[name] = values.astype(float)
    return typed, reasons


def areas_from_polygons(polygons: pd.DataFrame, config: AreasConfig) -> pd.DataFrame:
    """One area per polygon, ids and parents from the polygon attributes."""
    field = config.id_field
    if field is None or field not in polygons.columns:
        fields = ", ".join(c for c in polygons.columns if c != "geometry")
        raise InputError(f"areas: id_field '{field}' is not a polygon attribute; set id_field "
                         f"to one of: {fields}")
    frame = pd.DataFrame({C.AREA_ID: polygons[field].astype(str).str.strip()})
    if config.name_field:
        frame[C.AREA_NAME] = polygons[config.name_field].astype(str)
    for level, attribute in config.parents.items():
        if attribute not in polygons.columns:
            raise InputError(f"areas: parents.{level} names '{attribute}', which is not a "
                             "polygon attribute")
        frame[C.LEVEL_ID[level]] = polygons[attribute].astype(str).str.strip()
    # Several polygons with one id (multi-part districts) become one area.
    geometry = polygons["geometry"].groupby(frame[C.AREA_ID]).agg(
        lambda g: shapely.union_all(g.to_numpy()))
    frame = frame.drop_duplicates(C.AREA_ID).set_index(C.AREA_ID)
    frame["geometry"] = geometry
    return _geometry_columns(frame.reset_index(), config)


def areas_from_cells(polygons: pd.DataFrame, config: AreasConfig) -> pd.DataFrame:
    """Square cells covering the polygons; each cell's parent is the polygon holding most of it."""
    parents = areas_from_polygons(polygons, config)
    boundary = shapely.from_wkt(parents[C.GEOMETRY].to_numpy())
    cells = square_cells(boundary, float(config.cell_size or 0))
    parent = parents.iloc[cells["parent"].to_numpy()].reset_index(drop=True)
    frame = pd.DataFrame({C.AREA_ID: cells["cell_id"].to_numpy(),
                          C.COMMUNITY_ID: parent[C.AREA_ID].to_numpy(),
                          C.COMMUNITY_NAME: parent[C.AREA_NAME].to_numpy()})
    for level in ("street", "district"):
        frame[C.LEVEL_ID[level]] = parent[C.LEVEL_ID[level]].to_numpy()
        frame[C.LEVEL_NAME[level]] = parent[C.LEVEL_NAME[level]].to_numpy()
    frame["geometry"] = cells["geometry"].to_numpy()
    return _geometry_columns(frame, config)


def _geometry_columns(frame: pd.DataFrame, config: AreasConfig) -> pd.DataFrame:
    geoms = frame["geometry"].to_numpy()
    out = complete_hierarchy(frame.drop(columns="geometry"))
    out[C.AREA_KM2] = shapely.area(geoms) * SQ_KM_PER_SQ_UNIT[config.unit]
    centroids = shapely.centroid(geoms)
    out[C.CENTROID_X], out[C.CENTROID_Y] = shapely.get_x(centroids), shapely.get_y(centroids)
    out[C.NEIGHBOURS] = adjacency(geoms, out[C.AREA_ID].to_numpy(),
                                  tolerance=(config.cell_size or 1.0) * 1e-3)
    out[C.GEOMETRY] = shapely.to_wkt(geoms, rounding_precision=2)
    return out


def polygon_source(polygons: pd.DataFrame, config: AreasConfig) -> tuple[SourceResult, AreaIndex]:
    """Areas (and the index that assigns points) from a polygon file, as polygons or as cells."""
    build = areas_from_cells if config.kind == "cells" else areas_from_polygons
    frame = build(polygons, config)
    typed, reasons = conform(frame, "areas")
    for column in frame.columns:
        if column not in typed.columns:
            typed[column] = frame[column]
    result = account(typed, reasons, pd.Series(False, index=typed.index), frame)
    if config.kind == "cells":
        return result, AreaIndex(cell_size=config.cell_size)
    geoms = shapely.from_wkt(result.clean[C.GEOMETRY].to_numpy())
    return result, AreaIndex(polygons=geoms, ids=result.clean[C.AREA_ID].to_numpy())


def read_polygon_areas(config: AreasConfig, path) -> tuple[SourceResult, AreaIndex]:
    """Read a polygon file and build areas from it (the I/O edge of :func:`polygon_source`)."""
    return polygon_source(read_polygons(path), config)


def finalize_areas(clean: pd.DataFrame, covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """The areas contract, with every optional column present, then the declared covariates."""
    out = clean.copy()
    for column in C.AREA_NUMERIC + (C.AREA_KM2, C.CENTROID_X, C.CENTROID_Y):
        if column not in out.columns:
            out[column] = np.nan
    for column in (C.URBAN, C.NEIGHBOURS, C.GEOMETRY):
        if column not in out.columns:
            out[column] = None
    out[C.URBAN] = out[C.URBAN].astype("boolean")
    final = finalize(out, "areas")
    for name in covariates:
        final[name] = out[name].to_numpy(float)
    return final
