"""No personal field survives ingest: canary names, id numbers and phones appear in no output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features import build_features, ingest
from features.privacy import petitioner_keys
from riskgrid import load_experiment
from tests.conftest import CANARY_ID, CANARY_NAME, CANARY_PHONE

CANARIES = (CANARY_NAME, CANARY_ID, CANARY_PHONE, CANARY_ID.lower(), CANARY_ID[:-1])


def scan(folder: Path) -> list[str]:
    """Every (file, canary) pair where a canary appears in any encoding we write."""
    hits = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for canary in CANARIES:
            for encoding in ("utf-8", "gb18030", "utf-16-le"):
                if canary.encode(encoding) in data:
                    hits.append(f"{path}: {canary}")
    return hits


def test_no_personal_field_reaches_any_output(tiny_city, settings):
    path = tiny_city.parent / "petitions.jsonl"
    # A bad row too, so the quarantine file (which keeps the row's content) is scanned.
    path.write_text(path.read_text(encoding="utf-8") + path.read_text(encoding="utf-8")
                    .splitlines()[0].replace("P0", "P9").replace("G1", "G404") + "\n",
                    encoding="utf-8")
    experiment = load_experiment(tiny_city)
    report = ingest(experiment, settings)
    assert report.counts["petitions"]["quarantined"] == 1
    build_features(experiment, settings)
    assert any(settings.data_dir.rglob("*.parquet"))
    assert scan(settings.data_dir) == []
    petitions = pd.read_parquet(settings.data_dir / "tiny" / "clean" / "petitions.parquet")
    assert not {"name", "id_number", "phone"} & set(petitions.columns)


def test_keys_are_stable_per_person_and_depend_on_the_secret():
    frame = pd.DataFrame({"name": ["张三", "张三 ", "李四", None],
                          "id_number": ["11010519491231002x", "11010519491231002X", None, None],
                          "phone": ["139", "139", "138-0000", None]})
    keys = petitioner_keys(frame, b"one")
    assert keys[0] == keys[1]  # case and spacing do not split a person
    assert keys[2] != keys[0] and keys[2].startswith("p_")
    assert keys[3] is None
    assert petitioner_keys(frame, b"two")[0] != keys[0]


def test_repeat_visits_are_linked_through_the_key(tiny_city, settings):
    experiment = load_experiment(tiny_city)
    ingest(experiment, settings)
    petitions = pd.read_parquet(settings.data_dir / "tiny" / "clean" / "petitions.parquet")
    assert petitions["petitioner_key"].nunique() == 2  # two people, six petitions


def test_shifted_columns_leave_no_personal_data_in_the_quarantine(tiny_city, settings):
    """An export whose columns slid one place: the id number lands in 人数, the phone in 网格 and
    the name in 事项. The rows are quarantined, and neither their reasons nor their copied
    columns hold any of it in clear."""
    path = tiny_city.parent / "petitions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    shifted = [dict(rows[0], 编号="P90", 人数=CANARY_ID, 网格=CANARY_PHONE),
               dict(rows[0], 编号="P91", 网格=CANARY_PHONE),
               dict(rows[0], 编号="P92", 事项=CANARY_NAME),
               dict(rows[0], 编号="P93", 人数=CANARY_ID.lower()),
               dict(rows[0], 编号="P94", 网格="139-0000-1111")]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows + shifted),
                    encoding="utf-8")
    report = ingest(load_experiment(tiny_city), settings)
    assert report.counts["petitions"]["quarantined"] == len(shifted)
    assert scan(settings.data_dir) == []
    quarantine = pd.read_csv(settings.data_dir / "tiny" / "clean" / "quarantine" /
                             "petitions.csv", dtype=str)
    text = quarantine.to_csv()
    assert "139-0000-1111" not in text and "[phone]" in text and "[id number]" in text
    assert "[personal data]" in text  # the name, known from the name column of other rows
    assert quarantine["reason"].str.startswith("column ").all()  # still says what is wrong
