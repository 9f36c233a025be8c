"""The base every stage stands on: settings, errors, the vocabulary, the experiment model, the
calendar and the cluster connection. It imports nothing of the stages, and each name only when
first used (pydantic is not needed to print the command line's help)."""

from riskgrid.faces import lazy_face as _lazy_face

__all__ = ["Experiment", "InputError", "Settings", "load_experiment"]
__getattr__, __dir__ = _lazy_face(__name__, {
    "riskgrid.errors": ("InputError",),
    "riskgrid.experiment": ("Experiment", "load_experiment"),
    "riskgrid.settings": ("Settings",),
})
