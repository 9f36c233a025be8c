"""`riskgrid features`: clean tables in, panel, hierarchy counts and catalogue out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.engine import Engine
from features.hierarchy import level_counts
from features.informative import Declared, family_summary
from features.io import csv_writer, json_writer, parquet_writer, read_clean, write_snapshot
from features.panel import build_panel
from riskgrid.experiment import Experiment
from riskgrid.settings import Settings


@dataclass(frozen=True)
class FeaturesReport:
    path: Path
    rows: int
    columns: int
    periods: tuple[str, str]
    left_out: tuple[str, ...] = ()


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
    built, kept and written on the cluster (:mod:`features.panel_dataset`)."""
    engine = Engine.from_settings(settings)
    if engine.scheduler:
        from features.panel_dataset import build_features_on_cluster

        return FeaturesReport(**build_features_on_cluster(experiment, settings, engine, progress))
    if progress:
        progress("reading the clean tables")
    clean = read_clean(experiment.output_dir(settings))
    areas, incidents, petitions = clean.areas, clean.incidents, clean.petitions
    if progress:
        progress(f"building the panel ({len(areas):,} areas, {len(incidents):,} incidents, "
                 f"{len(petitions):,} petitions)")
    panel = build_panel(areas, incidents, petitions, experiment.features,
                        engine,
                        Declared.read(experiment.output_dir(settings) / "clean"))
    left_out = family_summary(panel.left_out, panel.catalogue)
    counts = level_counts(panel.frame, areas)
    periods = (str(panel.layout.periods[0].date()), str(panel.layout.periods[-1].date()))
    meta = {"experiment": experiment.name, "period": experiment.features.period,
            "first_period": periods[0], "last_period": periods[1],
            "areas": len(areas), "features": len(panel.catalogue),
            "input_fingerprint": fingerprint(areas, incidents, petitions),
            "left_out": panel.left_out}
    if progress:
        progress("writing the feature snapshot")
    link = write_snapshot(experiment.output_dir(settings) / "features", {
        "panel.parquet": parquet_writer(panel.frame),
        "counts.parquet": parquet_writer(counts),
        "catalogue.csv": csv_writer(panel.catalogue),
        "catalogue.json": json_writer(panel.catalogue.to_dict(orient="records")),
        "meta.json": json_writer(meta),
    })
    return FeaturesReport(path=link, rows=len(panel.frame), columns=len(panel.catalogue),
                          periods=periods, left_out=tuple(left_out))
