"""`riskgrid overrides`: set, list and clear a meeting's own levels, as a user runs them."""

from __future__ import annotations

import json

import pytest

from riskgrid import Settings, load_experiment
from serving.store import open_store
from tests.cli.test_app import riskgrid
from tests.serving.conftest import SANE, write_experiment
from tests.training.test_registry import write_inputs

pytestmark = pytest.mark.slow


def test_an_override_is_set_listed_and_cleared_with_its_history(tmp_path):
    data = tmp_path / "data"
    experiment = write_experiment(tmp_path, SANE)  # weeks of 2023, horizons 1 and 2
    write_inputs(load_experiment(experiment), Settings(data_dir=data, pseudonym_secret="t"))
    done = riskgrid("overrides", "reasons", str(experiment), data_dir=data)
    assert done.returncode == 0 and "new_dispute" in done.stdout and "raising" in done.stdout
    done = riskgrid("overrides", "set", str(experiment), "S1", "2024-01-10", "red", "--reason",
                    "new_dispute", "--note", "wage dispute at the site", "--who", "Li",
                    data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "S1 2024-01-08: red, new_dispute, set by Li" in done.stdout  # the week's Monday
    listed = tmp_path / "overrides.json"
    done = riskgrid("overrides", "list", str(experiment), "--json", str(listed), data_dir=data)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(listed.read_text())["overrides"]
    assert (row["area_id"], row["period"], row["level"], row["who"]) == (
        "S1", "2024-01-08", "red", "Li")
    assert row["reason_zh"] == "出现新的矛盾纠纷，数据中尚未反映" and row["note"]

    done = riskgrid("overrides", "clear", str(experiment), "S1", "2024-01-08", "--note",
                    "settled after all", "--who", "Zhao", data_dir=data)
    assert done.returncode == 0 and "override cleared by Zhao" in done.stdout, done.stderr
    riskgrid("overrides", "list", str(experiment), "--history", "--json", str(listed),
             data_dir=data)
    history = json.loads(listed.read_text())["overrides"]
    assert [(r["action"], r["who"]) for r in history] == [("set", "Li"), ("clear", "Zhao")]
    store = open_store(f"sqlite:///{data / 'riskgrid.db'}")
    assert store.overrides("tiny") == [] and store.verify_history().intact

    done = riskgrid("overrides", "set", str(experiment), "S1", "2023-12-25", "red", "--reason",
                    "new_dispute", "--note", "why", "--who", "Li", data_dir=data)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr
    assert ("The period 2023-12-25 is not one the forecasts are for (2024-01-01 to 2024-01-08, "
            "as of 2023-12-25)") in lines[0]
