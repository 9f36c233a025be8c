"""The command line starts at once: help, usage errors and the store's commands load none of the
libraries of the models, the panel or the service (bench/cli_start.py times them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RISKGRID = str(Path(sys.executable).parent / "riskgrid")
HEAVY = {"pandas", "numpy", "scipy", "sklearn", "lightgbm", "mlflow", "bentoml", "prophet",
         "pyarrow", "dask"}


def imported(*args: str, data_dir: Path, code: int = 0) -> set[str]:
    """The top-level packages one riskgrid run imports (python -X importtime)."""
    env = {**os.environ, "RISKGRID_DATA_DIR": str(data_dir), "PYTHONPROFILEIMPORTTIME": "1",
           "COLUMNS": "100"}
    env.pop("RISKGRID_DATABASE_URL", None)
    done = subprocess.run([RISKGRID, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == code, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("args", [("--help",), ("train", "--help"), ("report", "--help"),
                                  ("keys", "create", "--help"), ("warnings", "list", "--help")],
                         ids=" ".join)
def test_help_loads_no_stage_and_reads_no_settings(args, tmp_path):
    found = imported(*args, data_dir=tmp_path)
    assert "typer" in found  # the measurement works
    assert not found & HEAVY, f"riskgrid {' '.join(args)} imports {sorted(found & HEAVY)}"
    assert not found & {"pydantic_settings", "sqlalchemy", "features", "training", "serving",
                        "reporting"}


@pytest.mark.parametrize("args", [("trian",), ("train",), ("report", "x.toml", "--lang", "fr")],
                         ids=" ".join)
def test_a_usage_error_loads_no_stage(args, tmp_path):
    assert not imported(*args, data_dir=tmp_path, code=2) & HEAVY


@pytest.mark.parametrize("args", [("keys", "list"), ("db", "current"), ("audit", "verify"),
                                  ("warnings", "list")], ids=" ".join)
def test_the_store_commands_load_only_the_store(args, tmp_path):
    imported("db", "upgrade", data_dir=tmp_path)  # a store at the newest revision
    found = imported(*args, data_dir=tmp_path)
    assert "sqlalchemy" in found
    assert not found & HEAVY, f"riskgrid {' '.join(args)} imports {sorted(found & HEAVY)}"
    assert "alembic" not in found, "an up-to-date store is opened without Alembic"
