"""`riskgrid features`: clean tables in, panel, hierarchy counts and catalogue out.

A full build reads every clean table; after `riskgrid ingest --append` the same command
updates the previous panel instead (features/panel_update.py), with the same result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import feather

from features.clean_store import MANIFEST, read_manifest
from features.clean_store import fingerprint as manifest_fingerprint
from features.counts import Carry
from features.engine import Engine
from features.events import index_incidents
from features.hierarchy import level_counts
from features.informative import Declared, family_summary
from features.io import (
    csv_writer,
    json_writer,
    link_writer,
    read_clean,
    read_table,
    write_snapshot,
)
from features.layout import Layout
from features.panel import OUTCOME_PREFIX, Panel, build_panel, panel_layout
from features.panel_update import (
    STATE,
    block_names,
    block_of,
    block_periods,
    changed_blocks,
    changed_parts,
    changed_values,
    columns_record,
    config_key,
    count_blocks,
    events_array,
    events_frame,
    events_of,
    extra_families,
    layout_of,
    npy_bytes,
    panel_blocks,
    place,
)
from riskgrid import vocabulary as C
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings

PART = "_part"
PETITIONS = "petitions.arrow"
RANGES = "ranges.npy"  # each feature's finite min and max per block of periods
FILTERS = "filters"  # the exponential filters' values at the end of each block of periods


@dataclass(frozen=True)
class FeaturesReport:
    path: Path
    rows: int
    columns: int
    periods: tuple[str, str]
    left_out: tuple[str, ...] = ()
    blocks: tuple[int, int] | None = None  # an update: blocks of periods written, of all


def fingerprint(*frames: pd.DataFrame) -> str:
    """A short content hash of the input tables, logged with every model trained on them."""
    hasher = hashlib.sha256()
    for frame in frames:
        hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return hasher.hexdigest()[:16]


def build_features(experiment: Experiment, settings: Settings,
                   progress=None) -> FeaturesReport:
    """Read the clean snapshot, build the panel and write DATA_DIR/NAME/features/ atomically;
    ``progress``, if given, is called with each stage. With the Dask engine the panel is
    built, kept and written on the cluster (:mod:`features.panel_dataset`); otherwise a panel
    that ingest --append extended is updated where it can be, and built in full where not."""
    engine = Engine.from_settings(settings)
    if engine.scheduler:
        from features.panel_dataset import build_features_on_cluster

        return FeaturesReport(**build_features_on_cluster(experiment, settings, engine, progress))
    updated = update_features(experiment, settings, progress)
    if updated is not None:
        return updated
    if progress:
        progress("reading the clean tables")
    clean = read_clean(experiment.output_dir(settings))
    areas, incidents, petitions = clean.areas, clean.incidents, clean.petitions
    if progress:
        progress(f"building the panel ({len(areas):,} areas, {len(incidents):,} incidents, "
                 f"{len(petitions):,} petitions)")
    declared = Declared.read(experiment.output_dir(settings) / "clean")
    layout = panel_layout(areas, incidents, petitions, experiment.features)
    events = index_incidents(incidents, layout, experiment.features.handling_deadline_days)
    carry = Carry(area_ids=layout.area_ids, before={}, step=block_of(layout.period))
    panel = build_panel(areas, incidents, petitions, experiment.features,
                        engine, declared, layout=layout, events=events, carry=carry)
    left_out = family_summary(panel.left_out, panel.catalogue)
    counts = level_counts(panel.frame, areas)
    manifest = read_manifest(experiment.output_dir(settings) / "clean")
    meta = _meta(experiment, panel, areas, manifest_fingerprint(manifest) if manifest
                 else fingerprint(areas, incidents, petitions))
    if progress:
        progress("writing the feature snapshot")
    every = list(range(len(block_names(layout))))
    writers = {f"panel.parquet/{name}": block_writer(f)
               for name, f in panel_blocks(panel.frame, layout, every).items()}
    writers |= {f"counts.parquet/{name}": block_writer(f)
                for name, f in count_blocks(counts, layout, every).items()}
    writers |= _tables(panel, meta)
    if manifest:
        writers |= _full_state(experiment, manifest, declared, panel, events, incidents,
                               petitions)
        writers |= _filter_writers(None, panel, layout, 0)
    link = write_snapshot(experiment.output_dir(settings) / "features", writers)
    return FeaturesReport(path=link, rows=len(panel.frame), columns=len(panel.catalogue),
                          periods=_periods(layout), left_out=tuple(left_out))


def _periods(layout: Layout) -> tuple[str, str]:
    return str(layout.periods[0].date()), str(layout.periods[-1].date())


def _meta(experiment: Experiment, panel: Panel, areas: pd.DataFrame, fingerprint: str) -> dict:
    periods = _periods(panel.layout)
    return {"experiment": experiment.name, "period": experiment.features.period,
            "first_period": periods[0], "last_period": periods[1],
            "areas": len(areas), "features": len(panel.catalogue),
            "input_fingerprint": fingerprint, "left_out": panel.left_out}


def _tables(panel: Panel, meta: dict) -> dict:
    return {"catalogue.csv": csv_writer(panel.catalogue),
            "catalogue.json": json_writer(panel.catalogue.to_dict(orient="records")),
            "meta.json": json_writer(meta)}


def block_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    """A block of the panel or of the hierarchy counts as a Parquet file: the table
    ``DataFrame.to_parquet`` writes, with dictionaries and statistics for the keys and labels
    only (a float feature's dictionary and min/max serve no reader; leaving them out halves
    the time a block takes to write)."""
    def write(path: Path) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        keys = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
        pq.write_table(table, path, use_dictionary=keys, write_statistics=keys)
    return write


def _written(value) -> Callable[[Path], None]:
    """A state file's writer: bytes written, a path of the previous snapshot linked, a frame
    written as an uncompressed Arrow file of one chunk (its bytes depend on the values alone;
    read back in a few milliseconds, where Parquet takes five times as long each way)."""
    if isinstance(value, bytes):
        return lambda path: path.write_bytes(value)
    if isinstance(value, Path):
        return link_writer(value)

    def write(path: Path) -> None:
        table = pa.Table.from_pandas(value, preserve_index=False).combine_chunks()
        feather.write_feather(table, path, compression="uncompressed")
    return write


def _state(build: dict, arrays: dict, petitions, ranges: np.ndarray) -> dict:
    """The writers of ``state/``: build.json, each incident part's array, the petitions and
    the features' ranges by block (which decide the catalogue without the older values)."""
    writers = {f"{STATE}/incidents/{name.removesuffix('.parquet')}.npy": _written(value)
               for name, value in arrays.items()}
    writers[f"{STATE}/{PETITIONS}"] = _written(petitions)
    writers[f"{STATE}/{RANGES}"] = _written(npy_bytes(ranges))
    writers[f"{STATE}/build.json"] = json_writer(build)
    return writers


def _build(experiment: Experiment, manifest: dict, declared: Declared, panel: Panel,
           families: tuple[str, ...], extras: dict[str, list[str]]) -> dict:
    return {"key": config_key(experiment.features, declared, manifest["areas"]),
            "manifest": manifest, "families": list(families), "extras": extras,
            "periods": [str(p.date()) for p in panel.layout.periods],
            "spans": declared.spans, "columns": list(panel.frame.columns)}


def _full_state(experiment: Experiment, manifest: dict, declared: Declared, panel: Panel,
                events, incidents: pd.DataFrame, petitions: pd.DataFrame) -> dict:
    names = sorted(manifest.get("incidents", {}))
    cuts = np.cumsum([manifest["incidents"][n]["rows"] for n in names])[:-1]
    bounds = list(zip([0, *cuts], [*cuts, len(incidents)]))
    arrays = {n: npy_bytes(events_array(events, lo, hi)) for n, (lo, hi) in zip(names, bounds)} \
        if names else {}
    extras = {n: extra_families(incidents.iloc[lo:hi]) for n, (lo, hi) in zip(names, bounds)}
    parts = sorted(manifest.get("petitions", {}))
    sizes = [manifest["petitions"][n]["rows"] for n in parts]
    tagged = petitions.assign(**{PART: np.repeat(np.array(parts, dtype=object), sizes)})
    return _state(_build(experiment, manifest, declared, panel, events.families, extras),
                  arrays, tagged, panel.ranges)


@dataclass(frozen=True)
class _Previous:
    """The feature snapshot an update starts from, and the clean snapshot it updates for."""

    old: Path
    clean: Path
    state: dict
    manifest: dict
    declared: Declared
    areas: pd.DataFrame
    layout: Layout  # the panel's layout now
    before: Layout  # the previous panel's


def _previous(experiment: Experiment, settings: Settings) -> _Previous | None:
    """What an update needs, or None when a full build is: no previous state (or one of an
    earlier layout), other settings, areas or declarations, or another first period."""
    folder = experiment.output_dir(settings)
    state_file = folder / "features" / STATE / "build.json"
    if not state_file.is_file() or not (folder / "clean" / MANIFEST).is_file():
        return None
    old, clean = (folder / "features").resolve(), (folder / "clean").resolve()
    if not all((old / f"{table}.parquet").is_dir() for table in ("panel", "counts")) or \
            not all((old / STATE / name).is_file() for name in (PETITIONS, RANGES)):
        return None
    state, manifest = json.loads(state_file.read_text()), read_manifest(clean)
    declared, config = Declared.read(clean), experiment.features
    if state["key"] != config_key(config, declared, manifest["areas"]):
        return None
    areas = read_table(clean, "areas")
    layout = layout_of(manifest, areas[C.AREA_ID].to_numpy(), config)
    if layout is None:
        return None
    before = Layout(area_ids=layout.area_ids, periods=pd.DatetimeIndex(state["periods"]),
                    period=config.period)
    if layout.periods[0] != before.periods[0] or len(layout.periods) < len(before.periods):
        return None
    return _Previous(old, clean, state, manifest, declared, areas, layout, before)


def update_features(experiment: Experiment, settings: Settings,
                    progress=None) -> FeaturesReport | None:
    """Update the previous panel for the months ingest --append changed (None when a full
    build is needed)."""
    p = _previous(experiment, settings)
    if p is None:
        return None
    if progress:
        progress("updating the panel for the changed months")
    found = _update_incidents(p.old, p.clean, p.state, p.manifest, p.layout, experiment.features)
    if found is None:
        return None  # the families changed
    arrays, extras, events, start = found
    petitions, tagged, filed = _update_petitions(p.old, p.clean, p.state, p.manifest)
    if len(filed):
        start = min(start, float(p.layout.index(pd.Series([filed.min()]))[0]))
    blocks = changed_blocks(start, p.before, p.layout, p.state["spans"], p.declared.spans, True)
    # Computed from the first block written on; the earlier blocks' ranges are the stored ones.
    written = block_periods(p.layout, blocks)
    periods = np.arange(written.min(), len(p.layout.periods)) if len(written) else written
    ranges = np.load(p.old / STATE / RANGES)
    outcomes = sum(c.startswith(OUTCOME_PREFIX) for c in p.state["columns"])
    if ranges.shape[1] != len(p.state["columns"]) - 2 - outcomes:
        return None
    first = int(periods[0]) if len(periods) else 0
    panel = build_panel(p.areas, pd.DataFrame(), petitions, experiment.features,
                        Engine.from_settings(settings), p.declared, layout=p.layout,
                        events=events, periods=periods, ranges=ranges,
                        carry=_carry(p.old, p.layout, first))
    if list(panel.frame.columns) != p.state["columns"]:
        return None  # the panel's columns changed: every block is new
    writers = _panel_writers(p.old, panel, p.areas, p.layout, blocks, periods)
    writers |= _tables(panel, _meta(experiment, panel, p.areas,
                                    manifest_fingerprint(p.manifest)))
    writers |= _state(_build(experiment, p.manifest, p.declared, panel, events.families,
                             extras), arrays, tagged, panel.ranges)
    writers |= _filter_writers(p.old, panel, p.layout, first)
    link = write_snapshot(experiment.output_dir(settings) / "features", writers)
    return FeaturesReport(path=link, rows=p.layout.shape[0] * p.layout.shape[1],
                          columns=len(panel.catalogue), periods=_periods(p.layout),
                          left_out=tuple(family_summary(panel.left_out, panel.catalogue)),
                          blocks=(len(blocks), len(block_names(p.layout))))


def _filter_file(layout: Layout, block: int) -> str:
    return f"{STATE}/{FILTERS}/{block_names(layout)[block].removesuffix('.parquet')}.npy"


def _carry(old: Path, layout: Layout, first: int) -> Carry:
    """Where the filters carry on from at period ``first`` (a block's first): their values at
    the end of the block before, as the previous snapshot kept them (none: from the start)."""
    step = block_of(layout.period)
    path = old / _filter_file(layout, first // step - 1) if first else None
    before = {}
    if path is not None and path.is_file():
        record = np.load(path)
        before = {name: record[name] for name in record.dtype.names}
    return Carry(area_ids=layout.area_ids, before=before, step=step)


def _filter_writers(old: Path | None, panel: Panel, layout: Layout, first: int) -> dict:
    """The filters' values at the end of every complete block: the blocks from ``first`` on
    written, the earlier ones linked from the previous snapshot."""
    step, writers = block_of(layout.period), {}
    for block in range(len(layout.periods) // step):
        name = _filter_file(layout, block)
        if (block + 1) * step <= first:
            if old is not None and (old / name).is_file():
                writers[name] = link_writer(old / name)
            continue
        at = block - first // step  # the block's end among the panel's carried values
        writers[name] = _written(npy_bytes(columns_record(
            {key: values[:, at] for key, values in sorted(panel.carried.items())})))
    return writers


def _update_incidents(old: Path, clean: Path, state: dict, manifest: dict, layout: Layout,
                      config):
    """Each part's incidents on the layout (the changed parts placed again), the families,
    and the earliest period a changed incident occurred in (None: the families changed)."""
    before, now = state["manifest"].get("incidents", {}), manifest.get("incidents", {})
    changed = changed_parts(before, now)
    frames = {n: pd.read_parquet(clean / "incidents.parquet" / n) for n in changed if n in now}
    extras = {n: e for n, e in state["extras"].items() if n not in changed}
    extras |= {n: extra_families(f) for n, f in frames.items()}
    families = (*C.FAMILIES, *sorted({f for found in extras.values() for f in found}))
    if list(families) != state["families"]:
        return None
    stored = old / STATE / "incidents"
    arrays: dict = {n: stored / f"{n.removesuffix('.parquet')}.npy" for n in now
                    if n not in changed}
    placed = {n: place(f, layout, config, families) for n, f in frames.items()}
    start = np.inf
    for name in changed:
        path = stored / f"{name.removesuffix('.parquet')}.npy"
        previous = events_frame(np.load(path)) if path.is_file() else None
        fresh = events_frame(placed[name]) if name in placed else None
        found = changed_values(previous if previous is not None else fresh.iloc[:0],
                               fresh if fresh is not None else previous.iloc[:0], "occurred")
        start = min(start, float(found.min()) if len(found) else np.inf)
    loaded = [placed[n] if n in placed else np.load(arrays[n]) for n in sorted(now)]
    arrays |= {n: npy_bytes(a) for n, a in placed.items()}
    return arrays, extras, events_of(loaded, families), start


def _update_petitions(old: Path, clean: Path, state: dict, manifest: dict):
    """The petitions (the changed parts read again), the same with their part names (or the
    stored file when nothing changed), and the filing times of changed petitions."""
    stored_path = old / STATE / PETITIONS
    stored = pd.read_feather(stored_path)
    before, now = state["manifest"].get("petitions", {}), manifest.get("petitions", {})
    changed = changed_parts(before, now)
    if not changed:
        return stored.drop(columns=PART), stored_path, pd.Series(dtype="datetime64[ns]")
    fresh = {n: pd.read_parquet(clean / "petitions.parquet" / n).assign(**{PART: n})
             for n in changed if n in now}
    # The stored rows are in part order: each changed part's rows, one run, are replaced.
    names = stored[PART].to_numpy(dtype=object)
    pieces, gone, at = [], [], 0
    for name in changed:
        lo, hi = np.searchsorted(names, name, "left"), np.searchsorted(names, name, "right")
        pieces.append(stored.iloc[at:lo])
        gone.append(stored.iloc[lo:hi])
        pieces += [fresh[name]] if name in fresh else []
        at = hi
    tagged = pd.concat([*pieces, stored.iloc[at:]], ignore_index=True)
    new = pd.concat(list(fresh.values()), ignore_index=True) if fresh else stored.iloc[:0]
    filed = changed_values(pd.concat(gone, ignore_index=True).drop(columns=PART),
                           new.drop(columns=PART), C.FILED_AT)
    return tagged.drop(columns=PART), tagged, filed


def _panel_writers(old: Path, panel: Panel, areas: pd.DataFrame, layout: Layout,
                   blocks: list[int], periods: np.ndarray) -> dict:
    """The changed blocks of the panel and of the hierarchy counts written (the counts of
    those periods counted again), the others linked from the previous snapshot. The panel's
    frame holds the rows of ``periods``, from the first changed block's on."""
    fresh = {f"panel.parquet/{n}": f
             for n, f in panel_blocks(panel.frame, layout, blocks, periods).items()}
    if blocks:
        counts = count_blocks(level_counts(panel.frame, areas), layout, blocks)
        fresh |= {f"counts.parquet/{n}": f for n, f in counts.items()}
    names = [f"{table}.parquet/{n}" for table in ("panel", "counts") for n in block_names(layout)]
    return {name: block_writer(fresh[name]) if name in fresh else link_writer(old / name)
            for name in names}
