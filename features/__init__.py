"""Features stage: data contracts, ingestion, the synthetic city and the feature panel."""

from features.append import append
from features.catalogue import STREAMS
from features.engine import LOCAL, Engine
from features.ingest import IngestReport, ingest
from features.io import (
    CleanTables,
    FeatureTables,
    read_clean,
    read_features,
    read_fingerprint,
)
from features.layout import Layout
from features.panel import Panel, build_panel, outcomes_known_at
from features.pipeline import FeaturesReport, build_features
from features.quality import Volumes, data_alarms, read_volumes
from features.synthetic_city import write_city

__all__ = [
    "LOCAL", "STREAMS", "CleanTables", "Engine", "FeatureTables", "FeaturesReport",
    "IngestReport", "Layout", "Panel", "Volumes", "append", "build_features", "build_panel",
    "data_alarms",
    "ingest", "outcomes_known_at", "read_clean", "read_features", "read_fingerprint",
    "read_volumes", "write_city",
]
