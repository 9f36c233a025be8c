"""Ingest: raw exports -> clean incidents, petitions and areas, with every row accounted for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from features.accounting import SourceResult, account, total
from features.areas import AreaIndex, areas_from_table, finalize_areas, read_polygon_areas
from features.contracts import REQUIRED, SCHEMAS, conform, finalize
from features.geo import assign_points, cell_ids
from features.io import csv_writer, json_writer, parquet_writer, read_source, write_snapshot
from features.mapping import Mapping, apply_mapping, load_mapping
from features.privacy import petitioner_keys, strip_personal
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings

TIME_COLUMNS = {
    "incidents": (C.OCCURRED_AT, C.REPORTED_AT, C.CLOSED_AT),
    "petitions": (C.FILED_AT, C.CLOSED_AT),
}
START_COLUMN = {"incidents": C.OCCURRED_AT, "petitions": C.FILED_AT}


@dataclass(frozen=True)
class IngestReport:
    """What an ingest run produced: per-source row counts and where the tables are."""

    counts: dict[str, dict[str, int]]
    clean_dir: Path

    def as_json(self) -> dict:
        return {"sources": self.counts, "total": total(self.counts)}


def with_defaults(mapped: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """Fill the columns a source may leave out, and derive the ones that follow from others."""
    out = mapped.copy()
    id_col = C.INCIDENT_ID if kind == "incidents" else C.PETITION_ID
    if id_col not in out.columns:
        out[id_col] = [f"{source}-{row}" for row in out.index]
    if kind == "incidents":
        defaults = {C.REPORTED_AT: out[C.OCCURRED_AT], C.PEOPLE_INVOLVED: "1",
                    C.OVERDUE: "false", C.CLOSED_AT: None, C.SATISFACTION: None,
                    C.X: None, C.Y: None, C.AREA_ID: None}
    else:
        defaults = {C.PETITIONER_COUNT: "1", C.REPEAT: "false", C.ESCALATION: "0",
                    C.CLOSED_AT: None, C.COLLECTIVE: None}
    for column, value in defaults.items():
        if column not in out.columns:
            out[column] = value
        elif isinstance(value, pd.Series):
            out[column] = out[column].where(out[column].notna(), value)
    if C.STATUS not in out.columns:
        closed = out[C.CLOSED_AT].notna()
        out[C.STATUS] = np.where(closed, "closed", "reported" if kind == "incidents" else "open")
    return out


def clean_events(raw: pd.DataFrame, mapping: Mapping, kind: str, source: str,
                 areas: pd.DataFrame, index: AreaIndex, settings: Settings) -> SourceResult:
    """Clean one source of incidents or petitions (a pure function of the frames it is given)."""
    mapped, reasons = apply_mapping(raw, mapping)
    _require(mapped, kind)
    if kind == "petitions":
        mapped[C.PETITIONER_KEY] = (petitioner_keys(mapped, settings.secret())
                                    if any(c in mapped for c in C.PERSONAL_FIELDS) else None)
        mapped = strip_personal(mapped)
    mapped = with_defaults(mapped, kind, source)
    duplicates = raw.duplicated(keep="first")
    typed, contract_reasons = conform(mapped, kind, filled_later=(C.AREA_ID, C.COLLECTIVE))
    reasons = reasons.where(reasons != "", contract_reasons)
    if kind == "incidents":
        typed, located = _locate(typed, areas, index)
        reasons = reasons.where(reasons != "", located)
        typed[C.FAMILY] = typed[C.CATEGORY].map(C.family_of, na_action="ignore")
    else:
        counted = typed[C.PETITIONER_COUNT] >= C.COLLECTIVE_MIN_PEOPLE
        typed[C.COLLECTIVE] = typed[C.COLLECTIVE].where(typed[C.COLLECTIVE].notna(), counted)
        typed[C.PETITIONER_KEY] = mapped[C.PETITIONER_KEY]
        unplaced = typed[C.AREA_ID].isna() & (reasons == "")  # petitions carry no coordinates
        reasons[unplaced] = f"column {C.AREA_ID}: value is missing"
    for check in (_unknown_area(typed, areas), _future(typed, kind, settings.clock(),
                  settings.future_tolerance_hours), _order(typed, kind)):
        reasons = reasons.where(reasons != "", check)
    id_col = C.INCIDENT_ID if kind == "incidents" else C.PETITION_ID
    repeated = typed[id_col].duplicated(keep="first") & ~duplicates & (reasons == "")
    reasons[repeated] = f"column {id_col}: repeats the id of an earlier row with other content"
    return account(typed, reasons, duplicates, mapped)


def _require(mapped: pd.DataFrame, kind: str) -> None:
    missing = [c for c in REQUIRED[kind] if c not in mapped.columns]
    if kind == "incidents" and C.AREA_ID not in mapped and not {C.X, C.Y} <= set(mapped):
        missing.append("area_id (or x and y)")
    if missing:
        raise InputError(f"required column '{missing[0]}' is missing; map a source column to it "
                         "under [columns] of the mapping file")


def _locate(typed: pd.DataFrame, areas: pd.DataFrame,
            index: AreaIndex) -> tuple[pd.DataFrame, pd.Series]:
    """Give rows with coordinates but no area the area holding their point."""
    reasons = pd.Series("", index=typed.index, dtype=object)
    need = typed[C.AREA_ID].isna()
    has_xy = typed[C.X].notna() & typed[C.Y].notna()
    reasons[need & ~has_xy] = "columns area_id, x, y: the row has neither an area nor coordinates"
    todo = need & has_xy
    if not todo.any():
        return typed, reasons
    x, y = typed.loc[todo, C.X].to_numpy(float), typed.loc[todo, C.Y].to_numpy(float)
    if index.cell_size:
        found = pd.Series(cell_ids(x, y, index.cell_size), index=typed.index[todo])
        found = found.where(found.isin(areas[C.AREA_ID]))
    elif index.polygons is not None:
        home = assign_points(x, y, index.polygons)
        ids = np.where(home >= 0, index.ids[np.maximum(home, 0)], None)
        found = pd.Series(ids, index=typed.index[todo])
    else:
        raise InputError("rows have coordinates but the areas have no geometry; use areas of "
                         "kind \"polygons\" or \"cells\", or map an area id column")
    out = typed.copy()
    out.loc[todo, C.AREA_ID] = found
    outside = todo & out[C.AREA_ID].isna()
    reasons[outside] = [f"columns x, y: ({a:.10g}, {b:.10g}) lies outside every area; check the "
                        "coordinate system" for a, b in zip(out.loc[outside, C.X],
                                                            out.loc[outside, C.Y])]
    return out, reasons


def _unknown_area(typed: pd.DataFrame, areas: pd.DataFrame) -> pd.Series:
    reasons = pd.Series("", index=typed.index, dtype=object)
    bad = typed[C.AREA_ID].notna() & ~typed[C.AREA_ID].isin(areas[C.AREA_ID])
    reasons[bad] = [f"column area_id: '{a}' is not in the areas table; add the grid there or "
                    "fix the id" for a in typed.loc[bad, C.AREA_ID]]
    return reasons


def _future(typed: pd.DataFrame, kind: str, now: datetime, tolerance: float) -> pd.Series:
    reasons = pd.Series("", index=typed.index, dtype=object)
    limit = pd.Timestamp(now) + timedelta(hours=tolerance)
    for column in TIME_COLUMNS[kind]:
        bad = (typed[column] > limit) & (reasons == "")
        reasons[bad] = [f"column {column}: {t} is in the future; fix the date or the clock of "
                        "the exporting system" for t in typed.loc[bad, column]]
    return reasons


def _order(typed: pd.DataFrame, kind: str) -> pd.Series:
    reasons = pd.Series("", index=typed.index, dtype=object)
    start = START_COLUMN[kind]
    later = [C.REPORTED_AT, C.CLOSED_AT] if kind == "incidents" else [C.CLOSED_AT]
    for column in later:
        bad = (typed[column] < typed[start]) & (reasons == "")
        reasons[bad] = f"column {column}: is earlier than {start}; fix one of the two dates"
    return reasons


def empty_table(kind: str) -> pd.DataFrame:
    """A clean table with no rows (an experiment without petitions, say)."""
    schema = SCHEMAS[kind].to_schema()
    return pd.DataFrame({name: pd.Series(dtype=str(col.dtype).replace("string[pyarrow]", "string"))
                         for name, col in schema.columns.items()})


def ingest(experiment: Experiment, settings: Settings, progress=None) -> IngestReport:
    """Read every source of the experiment, clean it, and write one atomic snapshot.

    Writes DATA_DIR/NAME/clean/{incidents,petitions,areas}.parquet, quarantine/SOURCE.csv and
    summary.json. Raises InputError (naming the file) for problems that stop the whole run.
    """
    results: dict[str, SourceResult] = {}
    area_result, index = _load_areas(experiment, settings)
    results["areas"] = area_result
    areas = finalize_areas(area_result.clean)
    kinds: dict[str, dict[str, SourceResult]] = {"incidents": {}, "petitions": {}}
    for name, source in experiment.sources.items():
        if progress:
            progress(f"reading {name}")
        path = experiment.resolve(source.path, settings)
        mapping = load_mapping(experiment.resolve(source.mapping, settings)
                               if source.mapping else None)
        raw = read_source(path, mapping.format, mapping.encoding)
        try:
            result = clean_events(raw, mapping, source.kind, name, areas, index, settings)
        except InputError as exc:
            raise InputError(f"{path}: {exc}.") from None
        results[name] = kinds[source.kind][name] = result
    tables = {"areas": areas}
    for kind, found in kinds.items():
        merged = _merge(found, kind)
        tables[kind] = finalize(merged, kind) if len(merged) else empty_table(kind)
    counts = {name: r.counts for name, r in results.items()}
    writers = {f"{kind}.parquet": parquet_writer(frame) for kind, frame in tables.items()}
    writers.update({f"quarantine/{name}.csv": csv_writer(r.quarantine)
                    for name, r in results.items() if len(r.quarantine)})
    writers["summary.json"] = json_writer({"sources": counts, "total": total(counts)})
    link = write_snapshot(experiment.output_dir(settings) / "clean", writers)
    return IngestReport(counts=counts, clean_dir=link)


def _merge(found: dict[str, SourceResult], kind: str) -> pd.DataFrame:
    frames = [r.clean.assign(**{C.SOURCE: n}) for n, r in found.items() if len(r.clean)]
    if not frames:
        return pd.DataFrame()
    merged = pd.concat(frames, ignore_index=True)
    id_col = C.INCIDENT_ID if kind == "incidents" else C.PETITION_ID
    if merged[id_col].duplicated().any():
        first = merged.loc[merged[id_col].duplicated(), [id_col, C.SOURCE]].iloc[0]
        raise InputError(f"source {first[C.SOURCE]}: {id_col} '{first[id_col]}' is also used by "
                         "another source; give the sources distinct ids")
    return merged.drop(columns=C.SOURCE)


def _load_areas(experiment: Experiment, settings: Settings) -> tuple[SourceResult, AreaIndex]:
    config = experiment.areas
    path = experiment.resolve(config.path, settings)
    if config.kind == "table":
        mapping = load_mapping(experiment.resolve(config.mapping, settings)
                               if config.mapping else None)
        raw = read_source(path, mapping.format, mapping.encoding)
        try:
            return areas_from_table(raw, mapping), AreaIndex()
        except InputError as exc:
            raise InputError(f"{path}: {exc}.") from None
    try:
        return read_polygon_areas(config, path)
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(str(path)) else f"{path}: {message}.") \
            from None
