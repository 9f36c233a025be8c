"""The base every stage stands on: settings, errors, the vocabulary, the experiment model, the
calendar and the cluster connection. It imports nothing of the stages."""

from riskgrid.errors import InputError
from riskgrid.experiment import Experiment, load_experiment
from riskgrid.settings import Settings

__all__ = ["Experiment", "InputError", "Settings", "load_experiment"]
