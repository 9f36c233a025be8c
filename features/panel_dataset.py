"""The panel built, kept and written on a Dask cluster: a dataset of blocks of areas.

With ``RISKGRID_ENGINE=dask``, `riskgrid features` never holds the panel, nor the incidents,
in the process that runs it. Every step below is a task on the cluster:

1. each block of contiguous area rows reads its own areas' incidents from the clean snapshot
   (and one task reads the petitions, which every block needs whole: a repeat petitioner is
   recognized across areas); each block says back only its span of time and its families;
2. this process makes the panel's layout from those spans, as :func:`features.panel.panel_layout`
   would from the whole tables, and each block computes its per-area features and keeps them;
3. each block sends on the few count sums the spatial features read, and its sums per parent
   unit, which one task adds up for the whole city;
4. each block gets the sums of the blocks holding its neighbours and the city's parent sums,
   completes its rows exactly as :func:`features.panel.build_panel` does, and writes them as
   ``panel.parquet/area-NNNNN.parquet`` and its grids' counts as ``counts.parquet/area-NNNNN``.

What comes back here is a summary per block (its rows, the range of every feature, the
counts of the units above the grid). :func:`features.io.read_table` reads the folder back as
the one table, so every reader of the panel works as before; the panel is the in-process one,
value for value. The workers read and write the data directory, which they must see at the
same path (:func:`riskgrid.cluster.check_visible`).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.catalogue import FeatureSpec, catalogue_frame
from features.clean_store import fingerprint as manifest_fingerprint
from features.clean_store import read_manifest
from features.engine import Engine
from features.events import family_list, index_incidents
from features.hierarchy import level_counts
from features.informative import Declared, family_summary, informative
from features.intensity import city_sums, intensity_features, intensity_sources, ring_reach
from features.io import csv_writer, json_writer, read_table, write_snapshot
from features.layout import Layout
from features.panel import OUTCOME_PREFIX, area_features, assemble, complete_rows, panel_layout
from features.spread import (
    neighbour_matrix,
    neighbour_sources,
    parent_levels,
    parent_sources,
    spatial_features,
)
from features.spread import parent_sums as unit_sums
from riskgrid import vocabulary as C
from riskgrid.cluster import Deadline, block_count, check_visible, connect
from riskgrid.experiment import Experiment, FeaturesConfig
from riskgrid.settings import Settings

PART = "area-{:05d}.parquet"
AREAS_PER_BLOCK = 1000  # ~260,000 rows (130 MB) a block at five years of weeks
HASH_BATCH = 250_000  # rows per piece when the clean tables are fingerprinted


@dataclass(frozen=True)
class Block:
    """Area rows [lo, hi) of the areas table, written as part ``number``."""

    number: int
    lo: int
    hi: int


@dataclass(frozen=True)
class Summary:
    """What a block says back: its feature specs, each feature's finite count, min and max,
    the counts of the units above the grid over its areas, and its rows."""

    specs: list[FeatureSpec]
    ranges: dict[str, tuple[int, float, float]]
    upper_counts: pd.DataFrame
    rows: int


@dataclass(frozen=True)
class Built:
    """The panel written on the cluster: catalogue, left-out features, layout, fingerprint."""

    catalogue: pd.DataFrame
    left_out: dict[str, list[str]]
    layout: Layout
    fingerprint: str


def cut_blocks(n_areas: int, at_least: int) -> list[Block]:
    """Contiguous blocks of area rows: ``at_least`` of them, more if blocks would be large."""
    n = max(1, min(n_areas, max(at_least, -(-n_areas // AREAS_PER_BLOCK))))
    edges = np.linspace(0, n_areas, n + 1).astype(int)
    return [Block(i, int(lo), int(hi)) for i, (lo, hi) in enumerate(itertools.pairwise(edges))]


# --- tasks: what each worker runs ---------------------------------------------------------

def read_block(clean: str, name: str, area_ids: list[str]) -> pd.DataFrame:
    """The rows of one clean table whose area is one of ``area_ids``, in the table's order."""
    path = Path(clean) / f"{name}.parquet"
    return pd.read_parquet(path, filters=[(C.AREA_ID, "in", area_ids)])


def read_whole(clean: str, name: str) -> pd.DataFrame:
    return read_table(Path(clean), name)


def block_span(incidents: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """First and last occurrence of a block's incidents, and their families."""
    times = incidents[C.OCCURRED_AT].dropna()
    return times.agg(["min", "max"]) if len(times) else times, list(
        incidents[C.FAMILY].dropna().unique())


def petition_span(petitions: pd.DataFrame) -> pd.Series:
    times = petitions[C.FILED_AT].dropna()
    return times.agg(["min", "max"]) if len(times) else times


def block_values(incidents: pd.DataFrame, petitions: pd.DataFrame, layout: Layout,
                 config: FeaturesConfig, families: tuple[str, ...]
                 ) -> tuple[dict[str, np.ndarray], list[FeatureSpec]]:
    """The per-area features of one block (:func:`features.panel.area_features`)."""
    events = index_incidents(incidents, layout, config.handling_deadline_days, families)
    return area_features(events, petitions, layout, config)


def block_sources(values: tuple[dict[str, np.ndarray], list], names: list[str]
                  ) -> dict[str, np.ndarray]:
    """The count sums of a block that the spatial features of other blocks read."""
    return {name: values[0][name] for name in names if name in values[0]}


def block_unit_sums(sources: dict[str, np.ndarray], areas: pd.DataFrame, block: Block,
                    levels: list[str], names: list[str]) -> dict[tuple[str, str], np.ndarray]:
    rows = slice(block.lo, block.hi)
    return {(level, name): unit_sums(areas, level, sources[name], rows)
            for level in levels for name in names if name in sources}


def add_sums(*parts: dict) -> dict:
    """The city's parent-unit sums: the blocks' sums added up (key by key)."""
    keys = dict.fromkeys(key for part in parts for key in part)
    return {key: np.sum([p[key] for p in parts if key in p], axis=0) for key in keys}


def held_values(held: np.ndarray, blocks: list[Block], sources: list[dict[str, np.ndarray]]
                ) -> dict[str, np.ndarray]:
    """The source rows ``held`` (sorted area rows), gathered from the blocks that hold them
    (the block itself among them)."""
    names = list(sources[0])
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for block, source in zip(blocks, sources, strict=True):
        inside = held[(held >= block.lo) & (held < block.hi)] - block.lo
        for name in names:
            pieces[name].append(source[name][inside])
    return {name: np.concatenate(p) for name, p in pieces.items()}


def write_block(values: tuple[dict[str, np.ndarray], list[FeatureSpec]], neighbours: list,
                parents: dict, areas: pd.DataFrame, near, block: Block, held: np.ndarray,
                held_blocks: list[Block], layout: Layout, config: FeaturesConfig,
                declared: Declared, panel_dir: str, counts_dir: str) -> Summary:
    """Complete one block's rows as :func:`features.panel.build_panel` does, and write them."""
    own, specs = values
    short, long = config.windows[0], config.windows[-1]
    rows = slice(block.lo, block.hi)
    around = held_values(held, held_blocks, neighbours)
    spatial, spatial_specs = spatial_features(around, areas, short, long, rows, held, parents,
                                              near)
    intense, intense_specs = intensity_features(around, areas, config, rows, held, parents)
    spatial, spatial_specs = spatial | intense, spatial_specs + intense_specs
    outcomes = [name for name in own if name.startswith(OUTCOME_PREFIX)]
    mine = areas.iloc[rows].reset_index(drop=True)
    part = Layout(area_ids=layout.area_ids[rows], periods=layout.periods, period=layout.period)
    own, specs = complete_rows(own | spatial, specs + spatial_specs, mine, part, config,
                               declared, outcomes)
    frame = assemble(part, [s.name for s in specs], own, outcomes)
    write_part(frame, Path(panel_dir) / PART.format(block.number))
    counts = level_counts(frame, mine)
    grid = counts["level"] == C.LEVELS[0]
    write_part(counts[grid].reset_index(drop=True), Path(counts_dir) / PART.format(block.number))
    return Summary(specs=specs, ranges={s.name: value_range(own[s.name]) for s in specs},
                   upper_counts=counts[~grid], rows=len(frame))


def value_range(values: np.ndarray) -> tuple[int, float, float]:
    """How many values are finite, and their min and max (NaN when none is)."""
    column = np.asarray(values, dtype=np.float64)
    finite = column[np.isfinite(column)]
    if not finite.size:
        return 0, np.nan, np.nan
    return int(finite.size), float(finite.min()), float(finite.max())


def write_part(frame: pd.DataFrame, path: Path) -> None:
    """One part, whole or absent: written under another name, then renamed into place (a
    task run again after its worker died writes the same part again)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def fingerprint_tables(clean: str, names: tuple[str, ...]) -> str:
    """:func:`features.pipeline.fingerprint` of the clean tables, read piece by piece."""
    import pandas.util

    hasher = hashlib.sha256()
    for name in names:
        path = Path(clean) / f"{name}.parquet"
        parts = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        for part in parts:
            source = pq.ParquetFile(part)
            for batch in source.iter_batches(batch_size=HASH_BATCH):
                frame = pa.Table.from_batches([batch], schema=source.schema_arrow).to_pandas()
                hasher.update(pandas.util.hash_pandas_object(frame, index=False)
                              .to_numpy().tobytes())
    return hasher.hexdigest()[:16]


# --- the driver: what this process does ----------------------------------------------------

def combine(summaries: list[Summary]) -> tuple[pd.DataFrame, dict[str, list[str]],
                                               pd.DataFrame]:
    """The catalogue, the left-out features and the upper-level counts of the whole city.

    :func:`features.informative.informative` decides on each feature's range over all blocks
    (a two-value column of its min and max), exactly as on the whole panel.
    """
    specs = summaries[0].specs
    if any([s.name for s in other.specs] != [s.name for s in specs] for other in summaries):
        raise RuntimeError("blocks of the panel disagree on its features")
    ranges = {}
    for spec in specs:
        found = [s.ranges[spec.name] for s in summaries if s.ranges[spec.name][0]]
        ranges[spec.name] = (np.array([min(f[1] for f in found), max(f[2] for f in found)])
                             if found else np.array([]))
    kept, left_out = informative(specs, ranges)
    return catalogue_frame(kept), left_out, upper_levels(summaries)


def upper_levels(summaries: list[Summary]) -> pd.DataFrame:
    """The community, street, district and city counts: the blocks' counts added up, in the
    order of :func:`features.hierarchy.level_counts`."""
    parts = pd.concat([s.upper_counts for s in summaries], ignore_index=True)
    keys = ["level", "unit_id", "unit_name", C.PERIOD]
    total = parts.groupby(keys, sort=False, observed=True).sum().reset_index()
    total["order"] = total["level"].map({level: i for i, level in enumerate(C.LEVELS)})
    total = total.sort_values(["order", "unit_id", "unit_name", C.PERIOD], kind="stable")
    return total.drop(columns="order").reset_index(drop=True)


def build_panel_parts(clean: Path, panel_dir: Path, counts_dir: Path, areas: pd.DataFrame,
                      config: FeaturesConfig, declared: Declared, engine: Engine,
                      progress=None) -> Built:
    """Build the panel on ``engine``'s cluster, its parts written into ``panel_dir`` and the
    grid counts into ``counts_dir``; the upper-level counts are written here (small)."""
    deadline = Deadline(engine.timeout)
    with connect(engine.scheduler) as client:
        check_visible(client, clean)
        blocks = cut_blocks(len(areas), block_count(client, len(areas)))
        submit = _submitter(client, engine)
        ids = areas[C.AREA_ID].astype(str).tolist()
        incidents = [submit(read_block, str(clean), "incidents", ids[b.lo:b.hi]) for b in blocks]
        petitions = submit(read_whole, str(clean), "petitions")
        cluster_areas = submit(read_whole, str(clean), "areas")
        manifest = read_manifest(clean)  # the in-process build's fingerprint, when there is one
        fingerprint = submit(manifest_fingerprint, manifest) if manifest else submit(
            fingerprint_tables, str(clean), ("areas", "incidents", "petitions"))
        spans = deadline.gather(client, [submit(block_span, f) for f in incidents]
                                + [submit(petition_span, petitions)], "reading the clean tables")
        layout, families = _layout(areas, spans, config)
        if progress:
            progress(f"building the panel on the cluster ({len(blocks)} blocks of areas, "
                     f"{len(layout.periods)} periods)")
        values = [submit(block_values, f, petitions, _part(layout, b), config, families)
                  for f, b in zip(incidents, blocks, strict=True)]
        written = _completed(submit, values, blocks, areas, cluster_areas, layout, config,
                             declared, (str(panel_dir), str(counts_dir)))
        summaries = deadline.gather(client, written + [fingerprint], "building the panel")
    catalogue, left_out, upper = combine(summaries[:-1])
    write_part(upper, counts_dir / PART.format(len(blocks)))
    return Built(catalogue=catalogue, left_out=left_out, layout=layout,
                 fingerprint=summaries[-1])


def _completed(submit, values: list, blocks: list[Block], areas: pd.DataFrame, cluster_areas,
               layout: Layout, config: FeaturesConfig, declared: Declared,
               folders: tuple[str, str]) -> list:
    """The tasks that complete and write each block: the spatial sums each block sends on,
    the city's parent sums, and each block's :func:`write_block` with its neighbours' sums."""
    short, long = config.windows[0], config.windows[-1]
    names = sorted({f"{s}_sum_{w}" for s, w in neighbour_sources(short, long)
                    + parent_sources(short, long)} | set(intensity_sources()))
    sources = [submit(block_sources, v, names) for v in values]
    levels = parent_levels(areas)
    parents = submit(add_sums, *[submit(block_unit_sums, s, cluster_areas, b, levels, names)
                                 for s, b in zip(sources, blocks, strict=True)],
                     *[submit(city_sums, s, names) for s in sources])
    near = neighbour_matrix(areas)
    near_rows = submit(neighbour_matrix, cluster_areas)  # once, for every block
    # Each block reads the areas within the intensities' rings of its own (and those).
    reach = ring_reach(areas)
    written = []
    for block, value in zip(blocks, values, strict=True):
        held = np.unique(np.r_[near[block.lo:block.hi].indices,
                               reach[block.lo:block.hi].indices])
        mine = [b for b in blocks if b == block or ((held >= b.lo) & (held < b.hi)).any()]
        written.append(submit(write_block, value, [sources[b.number] for b in mine], parents,
                              cluster_areas, near_rows, block, held, mine, layout, config,
                              declared, *folders))
    return written


def _submitter(client, engine: Engine):
    def submit(fn, *args):
        return client.submit(fn, *args, retries=engine.retries, pure=False)
    return submit


def _part(layout: Layout, block: Block) -> Layout:
    return replace(layout, area_ids=layout.area_ids[block.lo:block.hi])


def _layout(areas: pd.DataFrame, spans: list, config: FeaturesConfig
            ) -> tuple[Layout, tuple[str, ...]]:
    """The layout :func:`features.panel.panel_layout` makes of the whole tables, made of the
    blocks' spans; and the city's families."""
    *incident_spans, filed = spans
    occurred = pd.concat([span for span, _ in incident_spans if len(span)]
                         or [pd.Series(dtype="datetime64[ns]")])
    layout = panel_layout(areas, pd.DataFrame({C.OCCURRED_AT: occurred.to_numpy()}),
                          pd.DataFrame({C.FILED_AT: filed.to_numpy()}), config)
    families = family_list(pd.Series([f for _, found in incident_spans for f in found],
                                     dtype=object))
    return layout, families


def build_features_on_cluster(experiment: Experiment, settings: Settings, engine: Engine,
                              progress=None) -> dict:
    """`riskgrid features` on the cluster: the snapshot :func:`features.pipeline.build_features`
    writes, its panel and counts written by the workers as folders of parts; the fields of
    its report.

    The workers read the clean snapshot the link points to now, so an ingest that swaps the
    link meanwhile does not mix two snapshots.
    """
    folder = experiment.output_dir(settings)
    clean = (folder / "clean").resolve()
    if progress:
        progress("reading the areas")
    areas = read_table(clean, "areas")
    declared = Declared.read(clean)
    built: dict[str, Built] = {}

    def panel_and_counts(path: Path) -> None:  # the snapshot's first file: the rest read it
        path.mkdir()
        (path.parent / "counts.parquet").mkdir()
        built["panel"] = build_panel_parts(clean, path, path.parent / "counts.parquet", areas,
                                           experiment.features, declared, engine, progress)

    def later(write):
        return lambda path: write(built["panel"])(path)

    link = write_snapshot(folder / "features", {
        "panel.parquet": panel_and_counts,
        "catalogue.csv": later(lambda b: csv_writer(b.catalogue)),
        "catalogue.json": later(lambda b: json_writer(b.catalogue.to_dict(orient="records"))),
        "meta.json": later(lambda b: json_writer(features_meta(experiment, areas, b))),
    })
    b = built["panel"]
    meta = features_meta(experiment, areas, b)
    return {"path": link, "rows": len(areas) * len(b.layout.periods),
            "columns": len(b.catalogue), "periods": (meta["first_period"], meta["last_period"]),
            "left_out": tuple(family_summary(b.left_out, b.catalogue))}


def features_meta(experiment: Experiment, areas: pd.DataFrame, built: Built) -> dict:
    """meta.json, as the in-process build writes it."""
    periods = built.layout.periods
    return {"experiment": experiment.name, "period": experiment.features.period,
            "first_period": str(periods[0].date()), "last_period": str(periods[-1].date()),
            "areas": len(areas), "features": len(built.catalogue),
            "input_fingerprint": built.fingerprint, "left_out": built.left_out}
