"""Reading source files: a damaged gzip export is one sentence naming the file, never a
traceback or an exit code that looks like Ctrl+C."""

from __future__ import annotations

import gzip

import pytest

from features.io import read_source
from riskgrid.errors import InputError
from tests.cli.test_app import riskgrid
from tests.conftest import GOOD_INCIDENTS, incidents_csv


def damaged(tmp_path, how: str):
    data = gzip.compress(incidents_csv(GOOD_INCIDENTS).encode("gb18030"))
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # flip a byte of the CRC at the end
        data = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    path = tmp_path / "incidents.csv.gz"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("how", "words"), [("truncated", "truncated"), ("crc", "corrupt")])
def test_a_damaged_gzip_is_one_sentence_naming_the_file(tmp_path, how, words):
    path = damaged(tmp_path, how)
    with pytest.raises(InputError, match=words) as caught:
        read_source(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("how", ["truncated", "crc"])
def test_ingest_of_a_damaged_gzip_exits_2_with_one_line(tiny_city, tmp_path, how):
    experiment = tiny_city.read_text().replace('path = "incidents.csv"',
                                               'path = "incidents.csv.gz"')
    tiny_city.write_text(experiment)
    damaged(tiny_city.parent, how)
    done = riskgrid("ingest", str(tiny_city), data_dir=tmp_path / "data")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "incidents.csv.gz" in lines[0] and "Traceback" not in done.stderr
