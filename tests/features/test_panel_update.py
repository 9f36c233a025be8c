"""A daily update of the panel (ingest --append, then features) gives exactly the panel a full
build of the same records gives, and writes only the blocks of periods the new records reach."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from features import append, build_features, ingest, read_features
from features.io import read_table
from riskgrid import Settings, load_experiment

MAPPINGS = Path(__file__).resolve().parents[2] / "experiments" / "mappings"


def experiment_file(root: Path, folder: Path, period: str = "week") -> Path:
    path = root / f"small-{folder.name}-{period}.toml"
    path.write_text(f"""name = "small"
[areas]
kind = "table"
path = "{folder / 'areas.csv'}"
[sources.incidents]
kind = "incidents"
path = "{folder / 'incidents.csv'}"
mapping = "{MAPPINGS / 'synthetic_city_incidents.toml'}"
[sources.petitions]
kind = "petitions"
path = "{folder / 'petitions.jsonl'}"
mapping = "{MAPPINGS / 'synthetic_city_petitions.toml'}"
[features]
period = "{period}"
horizons = [1]
windows = [4, 13]
""", encoding="utf-8")
    return path


def settings_in(folder: Path) -> Settings:
    return Settings(data_dir=folder, pseudonym_secret="test-secret", now=datetime(2023, 1, 10))


def day_paths(cut: Path) -> dict[str, Path]:
    return {"incidents": cut / "day" / "incidents.csv",
            "petitions": cut / "day" / "petitions.jsonl"}


@pytest.fixture(scope="module")
def rebuilt(cut: Path) -> Path:
    """A full ingest and build of everything reported by the end of the day."""
    settings = settings_in(cut.parent / "rebuilt")
    experiment = load_experiment(experiment_file(cut.parent, cut / "through"))
    ingest(experiment, settings)
    build_features(experiment, settings)
    return settings.data_dir / "small"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_the_day_holds_late_reports(cut):
    day = pd.read_csv(cut / "day" / "incidents.csv", encoding="gb18030", dtype=str)
    occurred = pd.to_datetime(day["发生时间"], errors="coerce")
    assert (occurred < pd.Timestamp("2022-10-03")).any(), "no late report to test with"


def test_an_update_equals_a_full_build_cell_by_cell(cut, rebuilt, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    before = build_features(experiment, settings)
    append(experiment, settings, day_paths(cut))
    report = build_features(experiment, settings)
    assert report.blocks is not None and report.blocks[0] < report.blocks[1]
    assert report.periods[1] > before.periods[1]  # the day completed a week
    ours, full = read_features(settings.data_dir / "small"), read_features(rebuilt)
    assert len(ours.panel) == len(full.panel) > 0
    pd.testing.assert_frame_equal(ours.panel, full.panel, check_exact=True)
    pd.testing.assert_frame_equal(ours.counts, full.counts, check_exact=True)
    pd.testing.assert_frame_equal(ours.catalogue, full.catalogue, check_exact=True)
    assert ours.meta == full.meta
    # Not just equal values: the very files a full build writes, state included.
    assert files(settings.data_dir / "small" / "features") == files(rebuilt / "features")
    assert files(settings.data_dir / "small" / "clean" / "incidents.parquet") == \
        files(rebuilt / "clean" / "incidents.parquet")


def test_unchanged_blocks_are_the_previous_snapshot_s_files(cut, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    build_features(experiment, settings)
    first = (settings.data_dir / "small" / "features" / "panel.parquet").resolve()
    inodes = {p.name: os.stat(p).st_ino for p in first.iterdir()}
    append(experiment, settings, day_paths(cut))
    report = build_features(experiment, settings)
    second = (settings.data_dir / "small" / "features" / "panel.parquet").resolve()
    kept = [p.name for p in second.iterdir() if inodes.get(p.name) == os.stat(p).st_ino]
    assert len(kept) == report.blocks[1] - report.blocks[0] > 0


def test_appending_the_same_day_again_changes_nothing(cut, tmp_path):
    settings = settings_in(tmp_path)
    experiment = load_experiment(experiment_file(tmp_path, cut / "before"))
    ingest(experiment, settings)
    append(experiment, settings, day_paths(cut))
    build_features(experiment, settings)
    clean, features = (settings.data_dir / "small" / name for name in ("clean", "features"))
    links = os.readlink(clean), os.readlink(features)
    again = append(experiment, settings, day_paths(cut))
    assert again.as_json()["total"]["added"] == 0
    assert again.as_json()["total"]["unchanged"] == again.as_json()["total"]["accepted"] > 0
    build_features(experiment, settings)
    assert (os.readlink(clean), os.readlink(features)) == links


def test_the_panel_reads_back_area_major_from_its_period_blocks(rebuilt):
    panel = read_table(rebuilt / "features", "panel")
    areas = read_table(rebuilt / "clean", "areas")
    assert list(panel["area_id"].unique()) == list(areas["area_id"])
    assert panel.groupby("area_id", sort=False)["period"].apply(
        lambda p: p.is_monotonic_increasing).all()


@pytest.mark.parametrize(("day", "period"), [(date(2022, 10, 12), "week"),
                                             (date(2022, 10, 31), "month")],
                         ids=["mid-week", "month"])
def test_an_update_equals_a_full_build_on_other_days_and_periods(cut_on, day, period, tmp_path):
    """A day that completes no period (only earlier outcomes change), and monthly periods."""
    folder = cut_on(day)
    settings, full = settings_in(tmp_path / "update"), settings_in(tmp_path / "full")
    experiment = load_experiment(experiment_file(tmp_path, folder / "before", period))
    ingest(experiment, settings)
    build_features(experiment, settings)
    append(experiment, settings, day_paths(folder))
    build_features(experiment, settings)
    again = load_experiment(experiment_file(tmp_path, folder / "through", period))
    ingest(again, full)
    build_features(again, full)
    assert files(settings.data_dir / "small" / "features") == \
        files(full.data_dir / "small" / "features")


def edited_day(cut: Path, folder: Path, add: list[str] = (),
               replace: dict[str, str] | None = None) -> Path:
    """The cut with the day's export edited: ``add``'s incident lines added to the day (and to
    the full export as of its end), and each stored incident of ``replace`` (id -> its new
    line) sent again with other content (the full export holding the new version instead)."""
    shutil.copytree(cut, folder)
    replace = replace or {}
    day, through = folder / "day" / "incidents.csv", folder / "through" / "incidents.csv"
    lines = [*add, *replace.values()]
    with day.open("a", encoding="gb18030") as out:
        out.write("".join(f"{line}\n" for line in lines))
    full = through.read_text(encoding="gb18030").splitlines()
    full = [replace.get(line.split(",", 1)[0], line) for line in full] + list(add)
    through.write_text("\n".join(full) + "\n", encoding="gb18030")
    return folder


def update_and_rebuild(folder: Path, tmp_path: Path):
    """The update of ``folder``'s day on the panel as of the day before, and a full build."""
    settings, full = settings_in(tmp_path / "update"), settings_in(tmp_path / "full")
    experiment = load_experiment(experiment_file(tmp_path, folder / "before"))
    ingest(experiment, settings)
    build_features(experiment, settings)
    previous = read_features(settings.data_dir / "small").panel
    append(experiment, settings, day_paths(folder))
    report = build_features(experiment, settings)
    again = load_experiment(experiment_file(tmp_path, folder / "through"))
    ingest(again, full)
    build_features(again, full)
    return previous, report, settings.data_dir / "small", full.data_dir / "small"


def assert_same_build(ours: Path, full: Path) -> None:
    a, b = read_features(ours), read_features(full)
    pd.testing.assert_frame_equal(a.panel, b.panel, check_exact=True)
    pd.testing.assert_frame_equal(a.catalogue, b.catalogue, check_exact=True)
    assert files(ours / "features") == files(full / "features")


def test_a_late_report_from_months_before_updates_from_its_block_on(cut, tmp_path):
    """An incident of May reported on the day: every block from May's on is computed again,
    the filters carrying on from the block before (state/filters), exactly as a rebuild."""
    late = ("SJ2022100999999,2022-05-10 09:00:00,2022-10-09 08:00:00,邻里纠纷,12345热线,"
            "D01S01C01G01,1,已办结,2022-10-09 18:00:00,否,4")
    folder = edited_day(cut, tmp_path / "cut", add=[late])
    _, report, ours, full = update_and_rebuild(folder, tmp_path)
    n_blocks = report.blocks[1]
    # May 2022 is in the second block of periods: all but the first are written again.
    assert report.blocks[0] == n_blocks - 1 and n_blocks > 3
    assert (ours / "features" / "state" / "filters").is_dir()
    assert_same_build(ours, full)
    clean = "clean/incidents.parquet"
    assert files(ours / clean) == files(full / clean)


def test_a_changed_old_record_changes_its_long_run_terms_as_a_rebuild(cut, tmp_path):
    """A May incident sent again as another family and closed later: the families' long-run
    means, decays and open cases change from May on, and the update still equals a rebuild."""
    old = "SJ2022051000001"
    stored = next(line for line in (cut / "before" / "incidents.csv")
                  .read_text(encoding="gb18030").splitlines() if line.startswith(old + ","))
    fields = stored.split(",")
    fields[3], fields[8] = "邻里纠纷", "2022-09-30 12:00:00"  # was street vending, closed May
    folder = edited_day(cut, tmp_path / "cut", replace={old: ",".join(fields)})
    previous, report, ours, full = update_and_rebuild(folder, tmp_path)
    assert report.blocks[0] == report.blocks[1] - 1
    assert_same_build(ours, full)
    now = read_features(ours).panel.set_index(["area_id", "period"])
    was = previous.set_index(["area_id", "period"])
    july = ("D01S01C01G01", pd.Timestamp("2022-07-04"))
    assert now.at[july, "dispute_mean_all"] > was.at[july, "dispute_mean_all"]
    assert now.at[july, "law_enforcement_mean_all"] < was.at[july, "law_enforcement_mean_all"]
    assert now.at[july, "open_cases"] == was.at[july, "open_cases"] + 1
