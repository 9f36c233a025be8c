"""Features stage: data contracts, ingestion, the synthetic city and the feature panel."""

from features.errors import InputError
from features.experiment import Experiment, load_experiment
from features.ingest import IngestReport, ingest
from features.settings import Settings

__all__ = ["Experiment", "IngestReport", "InputError", "Settings", "ingest", "load_experiment"]
