"""`riskgrid ingest --append`: a new export added to the clean dataset, touching only its months.

A record with a new id is added; one with the id of a stored record replaces it (a case closed
since, say) unless it is the same field for field, when it is left as it is. Only the monthly
parts the records fall in (and those holding their earlier versions) are written again; the
others are hard links to the previous snapshot's files, and the new snapshot is published
with one rename like every snapshot, so a killed run leaves the dataset as it was. Re-running
the same export finds every record unchanged and writes nothing. The areas, their neighbours
and the covariates stay as the last full ingest made them.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from features.accounting import COUNT_KEYS, SourceResult, total
from features.areas import AreaIndex
from features.clean_store import (
    ID,
    MANIFEST,
    Writers,
    append_rows,
    read_manifest,
    table_writers,
)
from features.informative import DECLARED_FILE
from features.ingest import (
    IngestReport,
    _merge,
    clean_sources,
    empty_table,
    finalize,
    ingest,
    kind_spans,
    named_spans,
    read_sources,
)
from features.io import (
    DIGESTS,
    csv_writer,
    json_writer,
    link_writer,
    read_table,
    write_snapshot,
)
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings

APPEND_KEYS = ("added", "replaced", "unchanged")


def with_paths(experiment: Experiment, paths: dict[str, Path]) -> Experiment:
    """The experiment reading only the named sources, from the given files."""
    unknown = sorted(set(paths) - set(experiment.sources))
    if unknown:
        raise InputError(f"--source {unknown[0]}=...: the experiment has no source named "
                         f"'{unknown[0]}'; use one of {', '.join(experiment.sources)}")
    sources = {name: experiment.sources[name].model_copy(update={"path": str(path)})
               for name, path in paths.items()}
    return experiment.model_copy(update={"sources": sources})


def append(experiment: Experiment, settings: Settings, paths: dict[str, Path] | None = None,
           progress=None) -> IngestReport:
    """Add the records of the experiment's sources (or of ``paths``: source name -> file) to
    its clean dataset; a full ingest when there is none yet."""
    clean = experiment.output_dir(settings) / "clean"
    if not clean.exists():
        every = experiment if not paths else with_paths(experiment, paths)
        return ingest(every, settings, progress)
    if not (clean / MANIFEST).is_file():
        raise InputError(f"{clean}: the clean tables were written by an earlier version of "
                         "riskgrid, which --append cannot extend; run riskgrid ingest without "
                         "--append once")
    clean = clean.resolve()  # this snapshot, whatever the link points at meanwhile
    subset = with_paths(experiment, paths) if paths else experiment
    empty = [n for n, s in subset.sources.items() if _empty(experiment.resolve(s.path, settings))]
    subset = subset.model_copy(update={"sources": {n: s for n, s in subset.sources.items()
                                                   if n not in empty}})
    sources = read_sources(subset, settings, progress)
    areas = read_table(clean, "areas", columns=[C.AREA_ID])  # all that cleaning reads of them
    kinds = clean_sources(subset, settings, sources, areas, area_index(experiment, settings),
                          progress)
    stored = read_manifest(clean)
    counts = {name: r.counts | dict.fromkeys(APPEND_KEYS, 0)
              for found in kinds.values() for name, r in found.items()}
    counts |= {name: dict.fromkeys((*COUNT_KEYS, *APPEND_KEYS), 0) for name in empty}
    writers: Writers = {}
    for kind, found in kinds.items():
        merged = _merge(found, kind)
        if not len(merged):
            continue
        new = finalize(merged, kind)
        none = empty_table(kind)
        done = append_rows(clean, kind, new, stored.get(kind, {}), none)
        _tally(counts, found, kind, new, done.status)
        if not done.parts and len(done.kept) == len(stored.get(kind, {})):
            continue
        found_writers, stored[kind] = table_writers(
            kind, done.parts, done.kept, lambda name: link_writer(clean / name), done.index,
            none)
        writers |= found_writers | {f"drop:{kind}": None}
    quarantine = _quarantine(clean, kinds)
    if not writers and not quarantine:
        return IngestReport(counts=counts, clean_dir=experiment.output_dir(settings) / "clean")
    writers |= quarantine
    writers[MANIFEST] = json_writer(stored)
    writers["summary.json"] = json_writer(_summary(clean, counts))
    writers[DECLARED_FILE] = json_writer(_declared(clean, experiment, kinds, sources))
    if progress:
        progress("writing the changed months")
    link = write_snapshot(experiment.output_dir(settings) / "clean",
                          _with_links(clean, writers))
    return IngestReport(counts=counts, clean_dir=link)


def _empty(path: Path) -> bool:
    """A day's export with no records: an empty file, or a CSV file with its header alone."""
    if not path.is_file():
        return False
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return False
    lines = [line for line in data.splitlines() if line.strip()]
    return not lines or (len(lines) == 1 and path.suffix.lower() == ".csv")


def area_index(experiment: Experiment, settings: Settings) -> AreaIndex:
    """What placing points in the stored areas needs (the areas themselves are not re-read)."""
    config = experiment.areas
    if config.kind == "cells":
        return AreaIndex(cell_size=float(config.cell_size))
    if config.kind == "polygons":
        from features.area_sources import load_areas

        return load_areas(experiment, settings, {}).index
    return AreaIndex()


def _tally(counts: dict[str, dict[str, int]], found: dict[str, SourceResult], kind: str,
           new: pd.DataFrame, status: np.ndarray) -> None:
    source = {i: n for n, r in found.items() for i in r.clean[ID[kind]]}
    tallied = Counter(zip((source[i] for i in new[ID[kind]]), status))
    for (name, key), n in tallied.items():
        if key in APPEND_KEYS:
            counts[name][key] = n


def _quarantine(clean: Path, kinds: dict[str, dict[str, SourceResult]]) -> Writers:
    """Each source's quarantined rows added to the ones stored (rows already there once)."""
    writers: Writers = {}
    for found in kinds.values():
        for name, result in found.items():
            if not len(result.quarantine):
                continue
            path = clean / "quarantine" / f"{name}.csv"
            text = io.StringIO()
            csv_writer(result.quarantine)(text)
            text.seek(0)  # read back as the stored rows are, so equal rows compare equal
            rows = pd.read_csv(text, dtype=str, keep_default_na=False)
            if path.is_file():
                old = pd.read_csv(path, dtype=str, keep_default_na=False)
                both = pd.concat([old, rows], ignore_index=True).drop_duplicates()
                if len(both) == len(old):
                    continue
                rows = both
            writers[f"quarantine/{name}.csv"] = csv_writer(rows)
    return writers


def _summary(clean: Path, counts: dict[str, dict[str, int]]) -> dict:
    """This run's accounting after the earlier runs', and the sum over all of them."""
    old = json.loads((clean / "summary.json").read_text())
    runs = old.get("runs") or [{"mode": "full", "sources": old["sources"],
                                "total": old["total"]}]
    runs = [*runs, {"mode": "append", "sources": counts,
                    "total": total(counts) | {k: sum(c[k] for c in counts.values())
                                              for k in APPEND_KEYS}}]
    cumulative: dict[str, dict[str, int]] = {}
    for run in runs:
        for name, found in run["sources"].items():
            into = cumulative.setdefault(name, dict.fromkeys(COUNT_KEYS, 0))
            for key in COUNT_KEYS:
                into[key] += found[key]
    return {"sources": cumulative, "total": total(cumulative), "runs": runs}


def _declared(clean: Path, experiment: Experiment, kinds: dict[str, dict[str, SourceResult]],
              sources: dict) -> dict:
    """The stored declarations, with this run's families and each source's span widened."""
    old = json.loads((clean / DECLARED_FILE).read_text(encoding="utf-8"))
    spans = dict(old.get("source_spans", {}))
    for name, (kind, first, last, first_inferred, last_inferred) in \
            named_spans(experiment, kinds).items():
        if name in spans:
            first, last = min(first, spans[name][1]), max(last, spans[name][2])
        spans[name] = [kind, first, last, first_inferred, last_inferred]
    families = dict(old.get("families", {}))
    families |= {code: list(label) for _, m, _ in sources.values()
                 for code, label in m.vocabulary.families.items()}
    return {"covariates": old.get("covariates", {}), "families": families,
            "spans": kind_spans(experiment, spans), "source_spans": spans}


def _with_links(clean: Path, writers: Writers) -> Writers:
    """The new files, and every other file of the snapshot ``clean`` linked as it is."""
    dropped = {key.split(":", 1)[1] for key in writers if key.startswith("drop:")}
    out = {key: w for key, w in writers.items() if not key.startswith("drop:")}
    for path in clean.rglob("*"):
        name = str(path.relative_to(clean))
        if path.is_dir() or name in out or name == DIGESTS:
            continue
        if name.split("/", 1)[0] in {f"{kind}.parquet" for kind in dropped}:
            continue  # the table's parts this run keeps are in ``writers`` already
        out[name] = link_writer(path)
    return dict(sorted(out.items()))
