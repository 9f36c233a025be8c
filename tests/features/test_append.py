"""riskgrid ingest --append: new records added, re-exported ones replaced, the accounting per run
and cumulative, and a run that fails leaves the dataset as it was."""

from __future__ import annotations

import csv
import io
import json
import os

import pandas as pd
import pytest

from features import append, build_features, ingest, read_features
from features.io import read_table
from riskgrid import InputError, load_experiment
from tests.features.test_panel_update import experiment_file, files, settings_in

ENCODING = "gb18030"


def edited(path, out, column="满意度"):
    """The export with one record's ``column`` changed (a re-export after a follow-up call),
    and that record alone."""
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(ENCODING), newline="")))
    at = rows[0].index(column)
    row = next(r for r in rows[1:] if r[at] in ("1", "2", "3", "4"))
    row[at] = "5"

    def write(target, body):
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows([rows[0], *body])
        target.write_bytes(text.getvalue().encode(ENCODING))

    out.mkdir(parents=True, exist_ok=True)
    write(out / "incidents.csv", rows[1:])
    write(out / "one.csv", [row])
    return row[0]


def test_a_re_exported_record_replaces_the_stored_one_and_the_update_follows(cut, tmp_path):
    changed = edited(cut / "before" / "incidents.csv", tmp_path / "edited")
    settings = settings_in(tmp_path / "data")
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    build_features(experiment, settings)
    rows = len(read_table(settings.data_dir / "small" / "clean", "incidents"))
    report = append(experiment, settings, {"incidents": tmp_path / "edited" / "one.csv"})
    assert (report.counts["incidents"]["replaced"], report.counts["incidents"]["added"]) == (1, 0)
    incidents = read_table(settings.data_dir / "small" / "clean", "incidents")
    assert len(incidents) == rows
    assert incidents.loc[incidents["incident_id"] == changed, "satisfaction"].tolist() == [5.0]
    update = build_features(experiment, settings)
    # The same as a full ingest and build of the edited export.
    full = settings_in(tmp_path / "full")
    (tmp_path / "edited" / "areas.csv").write_bytes((cut / "before" / "areas.csv").read_bytes())
    (tmp_path / "edited" / "petitions.jsonl").write_bytes(
        (cut / "before" / "petitions.jsonl").read_bytes())
    again = load_experiment(experiment_file(tmp_path, tmp_path / "edited"))
    ingest(again, full)
    build_features(again, full)
    assert update.blocks is not None
    ours, theirs = read_features(settings.data_dir / "small"), read_features(full.data_dir / "small")
    pd.testing.assert_frame_equal(ours.panel, theirs.panel, check_exact=True)
    pd.testing.assert_frame_equal(ours.counts, theirs.counts, check_exact=True)


def test_the_accounting_is_kept_per_run_and_summed(cut, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    first = ingest(experiment, settings)
    second = append(experiment, settings, {"incidents": cut / "day" / "incidents.csv"})
    summary = json.loads((settings.data_dir / "small/clean/summary.json").read_text())
    assert [run["mode"] for run in summary["runs"]] == ["full", "append"]
    assert summary["runs"][1]["sources"]["incidents"] == second.counts["incidents"]
    for key in ("rows_in", "accepted", "quarantined", "duplicates"):
        assert summary["sources"]["incidents"][key] == \
            first.counts["incidents"][key] + second.counts["incidents"][key]
    added = second.counts["incidents"]["added"]
    assert added > 0
    assert len(read_table(settings.data_dir / "small/clean", "incidents")) == \
        first.counts["incidents"]["accepted"] - first.counts["incidents"]["merged"] + added


def test_a_failed_append_leaves_the_dataset_as_it_was(cut, tmp_path, monkeypatch):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    link = settings.data_dir / "small" / "clean"
    before, target = files(link), os.readlink(link)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("features.io.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        append(experiment, settings, {"incidents": cut / "day" / "incidents.csv"})
    assert os.readlink(link) == target and files(link) == before


def test_an_unknown_source_name_is_one_sentence(cut, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    with pytest.raises(InputError, match="no source named 'calls'; use one of incidents"):
        append(experiment, settings, {"calls": cut / "day" / "incidents.csv"})


def test_an_append_to_tables_of_an_earlier_layout_refuses_in_one_sentence(cut, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    (settings.data_dir / "small" / "clean" / "manifest.json").unlink()
    with pytest.raises(InputError, match="run riskgrid ingest without --append once"):
        append(experiment, settings, {"incidents": cut / "day" / "incidents.csv"})


def test_a_first_append_is_a_full_ingest_of_what_it_is_given(cut, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    report = append(experiment, settings, {"incidents": cut / "before" / "incidents.csv"})
    assert set(report.counts) == {"areas", "incidents"}
    assert len(read_table(settings.data_dir / "small" / "clean", "incidents")) > 0
