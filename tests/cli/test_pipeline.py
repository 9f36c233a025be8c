"""riskgrid ingest --append and features from the command line: a day added, an update printed."""

from __future__ import annotations

from tests.cli.test_app import riskgrid
from tests.conftest import incidents_csv


def test_a_day_appended_then_features_update_the_panel(tiny_city, tmp_path):
    data = tmp_path / "data"
    assert riskgrid("ingest", str(tiny_city), data_dir=data).returncode == 0
    assert riskgrid("features", str(tiny_city), data_dir=data).returncode == 0
    day = tmp_path / "day.csv"
    day.write_bytes(incidents_csv([
        "E5,2024-03-19 11:00:00,2024-03-20 10:00:00,邻里纠纷,12345热线,G2,1,,",
        "E1,2024-03-04 09:00:00,2024-03-04 10:00:00,劳资纠纷,12345热线,G1,2,2024-03-08 10:00:00,5",
    ]).encode("gb18030"))
    done = riskgrid("ingest", str(tiny_city), "--append", "--source", f"incidents={day}",
                    data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "added" in done.stdout and "unchanged" in done.stdout and "(append)" in done.stdout
    done = riskgrid("features", str(tiny_city), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "updated for the new records" in done.stdout


def test_a_source_path_without_append_is_refused_in_one_line(tiny_city, tmp_path):
    done = riskgrid("ingest", str(tiny_city), "--source", "incidents=day.csv",
                    data_dir=tmp_path / "data")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--source NAME=PATH goes with --append" in done.stderr
