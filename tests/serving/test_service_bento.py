"""`bentoml build` packs the service, its code, experiments and pinned dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]


def test_bentoml_build_packs_the_service(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run([str(Path(sys.executable).with_name("bentoml")), "build",
                           "--output", "tag"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    (bento,) = (tmp_path / "bentos" / "riskgrid").glob("*/bento.yaml")
    src = bento.parent / "src"
    assert (src / "serving" / "service.py").is_file()
    assert (src / "riskgrid" / "settings.py").is_file()  # the base the service stands on
    assert (src / "serving" / "dashboard" / "index.html").is_file()
    assert (src / "experiments" / "synthetic_city.toml").is_file()
    assert not (src / "tests").exists() and not (src / "data").exists()
    assert "serving.service:RiskGrid" in bento.read_text()
    requirements = (bento.parent / "env" / "python" / "requirements.txt").read_text()
    assert "bentoml==" in requirements and "lightgbm==" in requirements
