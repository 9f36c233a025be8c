"""Features stage: data contracts, ingestion, the synthetic city and the feature panel."""

from features.errors import InputError
from features.experiment import Experiment, load_experiment
from features.ingest import IngestReport, ingest
from features.panel import Panel, build_panel
from features.pipeline import FeaturesReport, build_features
from features.settings import Settings

__all__ = [
    "Experiment", "FeaturesReport", "IngestReport", "InputError", "Panel", "Settings",
    "build_features", "build_panel", "ingest", "load_experiment",
]
