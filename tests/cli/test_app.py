"""The riskgrid command line: summaries other tools read, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from features.io import read_table

RISKGRID = str(Path(sys.executable).parent / "riskgrid")


def riskgrid(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RISKGRID_DATA_DIR": str(data_dir), "RISKGRID_NOW": "2025-01-01T00:00",
           "RISKGRID_PSEUDONYM_SECRET": "cli-test", "COLUMNS": "60"}
    return subprocess.run([RISKGRID, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def test_ingest_and_features_write_their_outputs(tiny_city, tmp_path):
    data = tmp_path / "data"
    summary_path = tmp_path / "summary.json"
    done = riskgrid("ingest", str(tiny_city), "--json", str(summary_path), data_dir=data)
    assert done.returncode == 0, done.stderr
    summary = json.loads(summary_path.read_text())
    assert set(summary) == {"sources", "total"}
    assert summary["sources"]["incidents"] == {"rows_in": 4, "accepted": 4, "quarantined": 0,
                                               "duplicates": 0, "merged": 0}
    assert summary["total"]["rows_in"] == 14
    assert "incidents" in done.stdout and "14" in done.stdout
    done = riskgrid("features", str(tiny_city), data_dir=data)
    assert done.returncode == 0, done.stderr
    panel = read_table(data / "tiny" / "features", "panel")
    assert {"area_id", "period", "dispute_sum_4"} <= set(panel.columns)
    catalogue = json.loads((data / "tiny" / "features" / "catalogue.json").read_text())
    assert {"name", "family", "en", "zh"} == set(catalogue[0])


def test_user_errors_are_one_line_without_a_traceback(tiny_city, tmp_path):
    (tiny_city.parent / "incidents.csv").write_bytes(b"")
    done = riskgrid("ingest", str(tiny_city), data_dir=tmp_path / "data")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "incidents.csv" in lines[0] and "empty" in lines[0]


def test_missing_experiment_file_is_named(tmp_path):
    done = riskgrid("features", str(tmp_path / "nope.toml"), data_dir=tmp_path / "data")
    assert done.returncode == 2 and "nope.toml" in done.stderr and "Traceback" not in done.stderr


def test_features_before_ingest_says_what_to_run(tiny_city, tmp_path):
    done = riskgrid("features", str(tiny_city), data_dir=tmp_path / "data")
    assert done.returncode == 2 and "riskgrid ingest" in done.stderr


def test_keys_create_list_revoke(tiny_city, tmp_path):
    from serving.store import open_store

    data = tmp_path / "data"
    assert riskgrid("ingest", str(tiny_city), data_dir=data).returncode == 0
    created = riskgrid("keys", "create", "--role", "viewer", "--scope", "D1", "--label",
                       "duty officer", "--experiment", str(tiny_city), data_dir=data)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("rg_") and " " not in token
    store = open_store(f"sqlite:///{(data / 'riskgrid.db').resolve()}")
    record = store.verify_key(token)
    assert record is not None and (record.role, record.scope) == ("viewer", "D1")
    listed = riskgrid("keys", "list", data_dir=data)
    assert record.key_id in listed.stdout and token not in listed.stdout
    assert riskgrid("keys", "revoke", record.key_id, data_dir=data).returncode == 0
    assert open_store(f"sqlite:///{(data / 'riskgrid.db').resolve()}").verify_key(token) is None
    again = riskgrid("keys", "revoke", record.key_id, data_dir=data)
    assert again.returncode == 2 and "no active key" in again.stderr
    bad = riskgrid("keys", "create", "--role", "emperor", "--scope", "city", data_dir=data)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "'--role'" in bad.stderr and "'viewer', 'analyst', 'admin'" in bad.stderr


def test_usage_errors_are_one_line_naming_the_fix(tmp_path):
    for args, fix in ((("trian",), "Did you mean 'train'?"),
                      (("train",), "Missing argument 'experiment'"),
                      (("report", "x.toml", "--level", "grid"),
                       "'grid' is not one of 'district', 'street', 'community'"),
                      (("warnings", "list", "--status", "open"), "'issued', 'acknowledged'")):
        done = riskgrid(*args, data_dir=tmp_path / "data")
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert fix in lines[0] and "--help" in lines[0] and "Value error" not in lines[0]
