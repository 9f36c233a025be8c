"""The service's commands: keys for areas that exist, and the history's verification."""

from __future__ import annotations

import sqlite3

from serving.store import open_store
from tests.cli.test_app import riskgrid


def test_a_key_for_an_area_that_does_not_exist_is_refused(tiny_city, tmp_path):
    data = tmp_path / "data"
    assert riskgrid("ingest", str(tiny_city), data_dir=data).returncode == 0
    bad = riskgrid("keys", "create", "--role", "viewer", "--scope", "NOPE", "--experiment",
                   str(tiny_city), data_dir=data)
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "Traceback" not in bad.stderr
    assert "'NOPE' is not an area of experiment tiny" in lines[0]
    good = riskgrid("keys", "create", "--role", "viewer", "--scope", "S1", "--experiment",
                    str(tiny_city), data_dir=data)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().splitlines()[-1].startswith("rg_")
    city = riskgrid("keys", "create", "--role", "admin", "--scope", "city", data_dir=data)
    assert city.returncode == 0, city.stderr  # the city needs no experiment


def test_audit_verify_names_the_first_broken_link(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = open_store(f"sqlite:///{(data / 'riskgrid.db').resolve()}")
    for status in (200, 403, 200):
        store.audit("k1", "score", ["G1"], "v1", status)
    store.close()
    done = riskgrid("audit", "verify", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "audit_log: 3 rows, chain intact" in done.stdout and "every chain is intact" in \
        done.stdout
    head = next(line for line in done.stdout.splitlines()
                if line.startswith("audit_log")).split("head ")[1].strip()
    with sqlite3.connect(data / "riskgrid.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET status = 200 WHERE id = 2")
    done = riskgrid("audit", "verify", "--head", head, data_dir=data)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr
    assert "audit_log row id 2 was changed after it was written" in lines[0]
