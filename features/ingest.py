"""Ingest: raw exports -> clean incidents, petitions and areas, with every row accounted for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from features.accounting import BLANK_REASON, SourceResult, account, blank_rows, total
from features.area_sources import adjacency_pairs, load_areas
from features.areas import AreaIndex
from features.clean_store import dataset_writers
from features.contracts import REQUIRED, SCHEMAS, conform, finalize
from features.geo import assign_points, cell_ids
from features.informative import DECLARED_FILE, Declared
from features.io import csv_writer, json_writer, read_source, write_snapshot
from features.mapping import Mapping, Vocabulary, apply_mapping, load_mapping
from features.neighbours import with_neighbours
from features.privacy import personal_values, petitioner_keys, strip_personal
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
        keys = dict.fromkeys(key for found in self.counts.values() for key in found)
        return {"sources": self.counts,
                "total": {k: sum(c.get(k, 0) for c in self.counts.values()) for k in keys}}


def with_defaults(mapped: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """Fill the columns a source may leave out, and derive the ones that follow from others."""
    out = mapped.copy()
    id_col = C.INCIDENT_ID if kind == "incidents" else C.PETITION_ID
    if id_col not in out.columns:
        out[id_col] = [f"{source}-{row}" for row in out.index]
    if kind == "incidents":
        defaults = {C.REPORTED_AT: out[C.OCCURRED_AT], C.PEOPLE_INVOLVED: "1", C.HANDLED: "true",
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
    personal = personal_values(mapped)
    if kind == "incidents" and not mapping.handling_record:
        mapped = mapped.assign(**{C.HANDLED: "false", C.CLOSED_AT: None})
    if kind == "petitions":
        mapped[C.PETITIONER_KEY] = (petitioner_keys(mapped, settings.secret())
                                    if any(c in mapped for c in C.PERSONAL_FIELDS) else None)
        mapped = strip_personal(mapped)
    mapped = with_defaults(mapped, kind, source)
    blank = blank_rows(raw)
    duplicates = raw.duplicated(keep="first") & ~blank
    typed, contract_reasons = conform(mapped, kind, filled_later=(C.AREA_ID, C.COLLECTIVE))
    reasons = reasons.where(~blank, BLANK_REASON)
    reasons = reasons.where(reasons != "", contract_reasons)
    if kind == "incidents":
        reasons = reasons.where(reasons != "", vocabulary_reasons(typed, mapping.vocabulary))
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
    valid = ~duplicates & (reasons == "")
    repeated = typed[id_col].where(valid).duplicated(keep="first") & valid
    if kind == "incidents" and mapping.merge_rows:
        rows = typed.loc[valid].groupby(id_col)[id_col].transform("size")
        typed.loc[valid & ~repeated, C.PEOPLE_INVOLVED] = rows[~repeated[valid]]
        return account(typed, reasons, duplicates, mapped, merged=repeated, personal=personal)
    reasons[repeated] = (f"column {id_col}: repeats the id of an earlier row with other content"
                         + ("; set merge_rows = true in the mapping if such rows are one "
                            "incident" if kind == "incidents" else ""))
    return account(typed, reasons, duplicates, mapped, personal=personal)


def vocabulary_reasons(typed: pd.DataFrame, vocabulary: Vocabulary) -> pd.Series:
    """Channels and categories that are neither built in nor declared in the mapping."""
    reasons = pd.Series("", index=typed.index, dtype=object)
    channels = set(C.CHANNELS) | set(vocabulary.channels)
    bad = typed[C.CHANNEL].notna() & ~typed[C.CHANNEL].isin(channels)
    reasons[bad] = [f"column channel: '{v}' is not a known channel; recode it to one of "
                    f"{', '.join(sorted(channels))} or declare it under [vocabulary.channels] "
                    "of the mapping" for v in typed.loc[bad, C.CHANNEL]]
    category = typed[C.CATEGORY]
    declared = category.str.split(".", n=1).str[0].isin(list(vocabulary.families))
    bad = category.notna() & ~category.isin(C.CATEGORIES) & ~declared & (reasons == "")
    reasons[bad] = [f"column category: '{v}' is not a built-in category (docs/data.md lists "
                    "them) nor in a family declared under [vocabulary.families] of the mapping"
                    for v in category[bad]]
    return reasons


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
    has_xy = typed[C.X].notna() & typed[C.Y].notna()
    need = typed[C.AREA_ID].isna()
    if index.cell_size:  # an id of a coarser area (a table's): the cell comes from the point
        need |= ~typed[C.AREA_ID].isin(areas[C.AREA_ID]) & has_xy
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
        reasons[todo] = ("columns area_id, x, y: the row has no area id, and the areas have no "
                         "geometry to place its coordinates in; fill the area id or use areas "
                         "of kind \"polygons\" or \"cells\"")
        return typed, reasons
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

    Writes DATA_DIR/NAME/clean/: areas.parquet, incidents.parquet and petitions.parquet (folders
    of monthly parts, features/clean_store.py), quarantine/SOURCE.csv, summary.json and
    declared.json (covariates, families and spans the files declared).
    Raises InputError (naming the file) for problems that stop the whole run. ``progress``,
    if given, is called with each stage (and ``(i, n)`` for source i of n).
    """
    sources = read_sources(experiment, settings, progress)
    loaded = load_areas(experiment, settings, sources)
    results: dict[str, SourceResult] = {"areas": loaded.result}
    areas = loaded.areas
    kinds = clean_sources(experiment, settings, sources, areas, loaded.index, progress)
    for found in kinds.values():
        results |= found
    tables = {}
    for kind, found in kinds.items():
        merged = _merge(found, kind)
        tables[kind] = finalize(merged, kind) if len(merged) else empty_table(kind)
    try:
        tables["areas"] = with_neighbours(areas, experiment.areas, tables["incidents"],
                                          adjacency_pairs(experiment, settings))
    except InputError as exc:
        where = experiment.areas.neighbours_path or experiment.areas.path
        raise InputError(f"{experiment.resolve(where, settings)}: {exc}.") from None
    declared = Declared(covariates=loaded.covariates,
                        families={code: tuple(label) for _, m, _ in sources.values()
                                  for code, label in m.vocabulary.families.items()},
                        spans=kind_spans(experiment, named_spans(experiment, kinds)))
    counts = {name: r.counts for name, r in results.items()}
    writers = dataset_writers(tables.pop("areas"), tables, json_writer)
    writers.update({f"quarantine/{name}.csv": csv_writer(r.quarantine)
                    for name, r in results.items() if len(r.quarantine)})
    writers["summary.json"] = json_writer({"sources": counts, "total": total(counts)})
    writers[DECLARED_FILE] = json_writer(declared.as_json() | {
        "source_spans": named_spans(experiment, kinds)})
    if progress:
        progress("writing the clean tables")
    link = write_snapshot(experiment.output_dir(settings) / "clean", writers)
    return IngestReport(counts=counts, clean_dir=link)


def read_sources(experiment: Experiment, settings: Settings,
                 progress=None) -> dict[str, tuple[Path, Mapping, pd.DataFrame]]:
    """Each source's path, mapping and raw rows."""
    out = {}
    for i, (name, source) in enumerate(experiment.sources.items(), 1):
        if progress:
            progress(f"reading {name}", (i, len(experiment.sources)))
        path = experiment.resolve(source.path, settings)
        mapping = load_mapping(experiment.resolve(source.mapping, settings)
                               if source.mapping else None)
        out[name] = (path, mapping, read_source(path, mapping.format, mapping.encoding,
                                                mapping.delimiter))
    return out


def clean_sources(experiment: Experiment, settings: Settings,
                  sources: dict[str, tuple[Path, Mapping, pd.DataFrame]], areas: pd.DataFrame,
                  index: AreaIndex, progress=None) -> dict[str, dict[str, SourceResult]]:
    """Each incident and petition source cleaned, by kind."""
    kinds: dict[str, dict[str, SourceResult]] = {"incidents": {}, "petitions": {}}
    for i, (name, (path, mapping, raw)) in enumerate(sources.items(), 1):
        if progress:
            progress(f"cleaning {name} ({len(raw):,} rows)", (i, len(sources)))
        kind = experiment.sources[name].kind
        try:
            kinds[kind][name] = clean_events(raw, mapping, kind, name, areas, index, settings)
        except InputError as exc:
            raise InputError(f"{path}: {exc}.") from None
    return kinds


def named_spans(experiment: Experiment, kinds: dict[str, dict[str, SourceResult]]
                ) -> dict[str, list]:
    """Per source: its kind, the first and last day it covers (declared, or its records'
    span), and whether each was inferred."""
    spans: dict[str, list] = {}
    for kind, found in kinds.items():
        for name, result in found.items():
            config = experiment.sources[name]
            times = result.clean[START_COLUMN[kind]].dropna()
            if times.empty and not (config.start and config.end):
                continue
            first = config.start or str(times.min().date())
            last = config.end or str(times.max().date())
            spans[name] = [kind, first, last, not config.start, not config.end]
    return spans


def kind_spans(experiment: Experiment, named: dict[str, list]
               ) -> dict[str, list[tuple[str, str, bool, bool]]]:
    """The spans of each kind, in the order of the experiment's sources."""
    spans: dict[str, list[tuple[str, str, bool, bool]]] = {}
    for name in experiment.sources:
        if name in named:
            kind, *span = named[name]
            spans.setdefault(kind, []).append(tuple(span))
    return spans


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
