"""The layout's rules: the base below the stages, imports only forwards and only through each
stage's package face, no cycles, small modules, one Settings per process entry."""

from __future__ import annotations

import ast
import importlib
import types
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top: each layer may import the layers before it, never one after it.
LAYERS = ("riskgrid", "features", "training", "serving", "reporting", "cli")
STAGES = ("features", "training", "serving", "reporting")
PUBLIC = {
    "riskgrid": {"Experiment", "InputError", "Settings", "load_experiment"},
    "features": {"LOCAL", "STREAMS", "CleanTables", "Engine", "FeatureTables", "FeaturesReport",
                 "IngestReport", "Layout", "Panel", "Volumes", "append", "build_features",
                 "build_panel",
                 "data_alarms", "ingest", "outcomes_known_at", "read_clean", "read_features",
                 "read_fingerprint", "read_volumes", "write_city"},
    "training": {"BACKTEST_FILE", "CHAMPION", "OUTCOME", "BacktestResult", "Inputs", "RiskModel",
                 "TrendConfig", "backtest", "check_store", "contributions", "count_metrics",
                 "fail_fast", "flag_streams", "flag_threshold", "forecast_trend",
                 "input_catalogue", "load_inputs", "model_name", "promote",
                 "read_backtest_predictions", "run_backtest", "save_backtest_predictions",
                 "store_failures", "surges", "tracking_uri", "train", "unit_series"},
    "serving": {"KINDS", "LEVELS", "DataQuality", "LoadedModel", "SafetyIndex", "Scorer",
                "ServingData", "Snapshot", "Store", "StoreUnavailable", "TrendService",
                "equity_report", "ledger", "level_tally", "load_champion", "load_serving_data",
                "open_store", "overrides", "read_outcomes", "record_backtest_file",
                "record_batch", "resolve_period", "scorecard", "scorecard_trend", "store_revision",
                "upgrade_store", "warnings_for"},
    "reporting": {"MeetingPack", "build_pack", "default_out", "labels", "render_html",
                  "write_report"},
    "cli": {"app", "main"},
}
# Where a process starts, and so where its one Settings() is built.
ENTRIES = {"cli/app.py", "serving/service.py", "serving/store/migrations/env.py"}
MAX_LINES = 500


def modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def name_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import of ours, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return [(module, names) for module, names in found if module.split(".")[0] in LAYERS]


@pytest.mark.parametrize("layer", LAYERS)
def test_public_api_is_what_the_package_exposes(layer):
    package = importlib.import_module(layer)
    assert set(package.__all__) == PUBLIC[layer]
    # A lazy face (riskgrid.faces) binds a name when it is first used: use them all first.
    for name in package.__all__:
        assert getattr(package, name) is not None, f"{layer}.{name} does not resolve"
    exposed = {name for name, value in vars(package).items()
               if not name.startswith("_") and name != "annotations"
               and not (isinstance(value, types.ModuleType) and name not in package.__all__)}
    assert exposed == set(package.__all__), "the face exposes names outside __all__"
    if "__getattr__" in vars(package):
        assert set(dir(package)) == set(package.__all__), "dir() of a lazy face is its __all__"
        with pytest.raises(AttributeError):
            package.not_a_public_name  # noqa: B018 - the face offers nothing else



@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_forwards_through_package_faces(path):
    own = path.relative_to(ROOT).parts[0]
    for module, names in imports(path):
        top = module.split(".")[0]
        assert LAYERS.index(top) <= LAYERS.index(own), f"{path} imports {module}, a later layer"
        if own == "riskgrid":
            assert top == "riskgrid", f"the base imports nothing of the stages: {module}"
        if top != own and top in (*STAGES, "cli"):
            assert module == top, f"{path} imports {module}: import {top} through its face"
            assert set(names) <= PUBLIC[top], f"{path} imports {set(names) - PUBLIC[top]} " \
                                              f"from {top}, which it does not export"


def test_no_import_cycles():
    graph: dict[str, set[str]] = defaultdict(set)
    known = {name_of(p) for p in modules()}
    for path in modules():
        for module, names in imports(path):
            targets = {f"{module}.{n}" for n in names if f"{module}.{n}" in known} or {module}
            graph[name_of(path)] |= {t for t in targets if t in known} - {name_of(path)}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(known):
        if node not in index:
            visit(node)
    assert not cycles


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_settings_are_built_once_per_process_entry():
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        builds = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                  and isinstance(n.func, ast.Name) and n.func.id == "Settings"]
        where = str(path.relative_to(ROOT))
        assert len(builds) <= (1 if where in ENTRIES else 0), f"{where} builds Settings()"


def test_nothing_changes_the_environment_at_import():
    for path in modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            text = ast.unparse(node)
            assert not ("os.environ" in text and isinstance(node, (ast.Expr, ast.Assign))
                        and any(w in text for w in ("setdefault", "update", "os.environ["))), \
                f"{path} changes the environment when imported: {text[:80]}"


def test_experiments_hold_configs_not_code():
    assert not list((ROOT / "experiments").rglob("*.py"))
    assert (ROOT / "experiments" / "synthetic_city.toml").is_file()


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_every_shipped_experiment_is_valid(path):
    from riskgrid import load_experiment

    assert load_experiment(path).name == path.stem


TESTS = sorted(p for p in (ROOT / "tests").rglob("test_*.py") if p.parent != ROOT / "tests")


@pytest.mark.parametrize("path", TESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_tests_mirror_the_code(path):
    """tests/A/B/test_M.py (or test_M_ASPECT.py) tests the module or package A/B/M."""
    folder = ROOT / path.parent.relative_to(ROOT / "tests")
    words = path.stem.removeprefix("test_").split("_")
    candidates = ["_".join(words[:n]) for n in range(len(words), 0, -1)]
    assert any((folder / f"{c}.py").is_file() or (folder / c).is_dir()
               for c in candidates), f"{path.name} names no module of {folder.relative_to(ROOT)}"
