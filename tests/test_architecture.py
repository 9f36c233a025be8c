"""The stages' public APIs and the direction of imports (features -> training -> serving)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("features", "training", "serving")
PUBLIC = {
    "features": {"Experiment", "FeaturesReport", "IngestReport", "InputError", "Panel",
                 "Settings", "build_features", "build_panel", "ingest", "load_experiment"},
    "training": {"BacktestResult", "RiskModel", "TrainingConfig", "TrainingExperiment",
                 "run_backtest"},
    "serving": set(),
}


@pytest.mark.parametrize("stage", STAGES)
def test_public_api_does_not_grow_by_accident(stage):
    module = importlib.import_module(stage)
    assert set(module.__all__) == PUBLIC[stage]
    assert all(hasattr(module, name) for name in module.__all__)


def imported_stages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_stages_import_only_forwards(stage):
    allowed = set(STAGES[: STAGES.index(stage) + 1])
    for path in (ROOT / stage).rglob("*.py"):
        assert imported_stages(path) <= allowed, f"{path} imports a later stage"


def test_experiments_hold_configs_not_code():
    assert not list((ROOT / "experiments").rglob("*.py"))
    assert (ROOT / "experiments" / "synthetic_city.toml").is_file()


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_every_shipped_experiment_is_valid(path):
    from features import load_experiment
    from serving.config import ServingExperiment

    assert load_experiment(path, ServingExperiment).name == path.stem
