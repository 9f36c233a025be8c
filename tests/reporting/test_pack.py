"""The meeting pack: every section, both languages, small counts hidden, offline HTML, a PDF."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from features.io import read_table
from reporting import build_pack, render_html, write_report
from reporting.charts import map_svg
from reporting.counts import is_count, suppress
from reporting.geography import outlines
from reporting.labels import LANGS, catalogue
from reporting.pack import MeetingPack, default_out
from reporting.ranking import area_context, families
from riskgrid import Settings
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import Experiment, ReportConfig, load_experiment
from serving.scoring import resolve_period
from serving.store import open_store
from tests.serving.conftest import BIN, SANE, train_and_promote, write_experiment
from tests.training.test_registry import write_inputs
from training import BACKTEST_FILE
from training.targets import input_catalogue

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SECTIONS = ("headline", "map", "safety", "trends", "ranked", "changes", "warnings",
            "overrides", "equity",
            "scorecard", "quality")
CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = "Debian's chromium is not installed at /usr/bin/chromium (make system installs it)"


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[Settings, Path, Experiment]:
    """The tiny city of the service tests, trained and promoted, with an ingest summary."""
    root = tmp_path_factory.mktemp("meeting")
    settings = Settings(data_dir=root / "data", pseudonym_secret="test")
    path = write_experiment(root, SANE)
    experiment = load_experiment(path)
    write_inputs(experiment, settings)
    clean = experiment.output_dir(settings) / "clean"
    (clean / "summary.json").write_text(json.dumps({
        "sources": {"incidents": {"rows_in": 4003, "accepted": 4000, "quarantined": 2,
                                  "duplicates": 1}},
        "total": {"rows_in": 4003, "accepted": 4000, "quarantined": 2, "duplicates": 1}}))
    (clean / "quarantine").mkdir(exist_ok=True)
    pd.DataFrame({"row": [7, 9], "reason": ["column area_id: 'X9' is not in the areas table",
                                            "column occurred_at: 'soon' is not a date"]}
                 ).to_csv(clean / "quarantine" / "incidents.csv", index=False)
    train_and_promote(path, settings, "first model")
    # These tests follow a ledger from empty: leave out the backtest's past forecasts
    # (test_service checks that they become vintages).
    (experiment.output_dir(settings) / BACKTEST_FILE).unlink()
    return settings, path, experiment


@pytest.fixture(scope="module")
def pack(city) -> MeetingPack:
    settings, _, experiment = city
    store = open_store(f"sqlite:///{settings.data_dir / 'meeting-empty.db'}")
    return build_pack(experiment, settings, level="street", store=store)


def test_the_html_has_every_section_in_both_languages_and_needs_no_network(pack):
    words = catalogue()
    for lang in LANGS:
        html = render_html(pack, lang)
        for section in SECTIONS:
            assert f'<section id="{section}"' in html
            assert words[lang]["sections"][section] in html
        for kind in words[lang]["kinds"].values():
            assert kind in html  # warnings grouped by the four kinds, each named
        assert "http://" not in html and "https://" not in html
        assert "<script" not in html and "<link" not in html
        assert all(src.startswith("data:image/svg+xml;base64,")
                   for src in re.findall(r'\bsrc="([^"]*)"', html))
        assert not re.search(r"url\((?!#)", html)  # no fonts or images fetched by CSS
        assert "<svg" in html and "Noto Sans CJK SC" in html
    assert "风险研判会议材料" in render_html(pack, "zh")
    english = render_html(pack, "en")
    assert "Risk-assessment meeting pack" in english and "风险研判会议材料" not in english


def test_the_pack_ranks_units_by_safety_index_and_says_where_the_warnings_go(pack, city):
    from serving import SafetyIndex, load_serving_data

    settings, _, experiment = city
    data = load_serving_data(experiment, settings)
    index = SafetyIndex.of(data.panel, data.areas, experiment)
    as_of, since = pd.Timestamp(pack.meta["as_of"]), pd.Timestamp(pack.meta["since"])
    now = index.table("street", as_of).set_index(C.AREA_ID)["value"]
    then = index.table("street", since).set_index(C.AREA_ID)["value"]
    safety = pack.safety
    assert [r["unit_id"] for r in safety["rows"]] == list(now.sort_values(
        ascending=False).index)  # the safest first, the same numbers as /safety_index
    for r in safety["rows"]:
        assert r["value"] == pytest.approx(now[r["unit_id"]]) and 0 <= r["value"] <= 100
        assert r["since"] == pytest.approx(now[r["unit_id"]] - then[r["unit_id"]])
        assert 0 <= r["forecast"] <= 100 and 1 <= len(r["weakest"]) <= 2
    assert safety["left_out"] == [] and len(safety["components"]) == 11
    equity = pack.equity
    warned = sum(level != "none" for level in pack.grid_levels.values())
    assert equity["city"]["flagged"] == warned == sum(r["flagged"] for r in equity["rows"])
    assert {r["unit_id"] for r in equity["rows"]} == {"S0", "S1"}
    assert not equity["channels_known"]  # every incident of the tiny city came by hotline
    assert {"repeat_share", "flagged_officer_share"} <= {r["metric"] for r in
                                                         pack.scorecard["trend"]}
    words = catalogue()
    for lang in LANGS:
        html = render_html(pack, lang)
        assert 'id="safety-ranked"' in html and 'id="equity-units"' in html
        assert html.count('class="map') >= 2  # the risk map and the safety-index map
        assert words[lang]["equity"]["no_channels"].split("{")[0] in html
    english = render_html(pack, "en")
    assert ("Safety index (as of the period starting 2023-12-25; compared with the period "
            "starting 2023-12-18)") in english
    assert words["en"]["safety"]["indicators"]["collective"] in english


def test_every_label_exists_in_both_languages():
    def keys(table: dict, prefix: str = "") -> set[str]:
        found = set()
        for key, value in table.items():
            found |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
        return found

    words = catalogue()
    assert keys(words["en"]) == keys(words["zh"])
    with pytest.raises(InputError, match="--lang 'fr'"):
        render_html(None, "fr")  # type: ignore[arg-type]


def test_the_pack_ranks_grids_with_reasons_and_their_usual_value(pack, city):
    settings, _, experiment = city
    assert 1 <= len(pack.ranked) <= ReportConfig().top_areas
    assert [r["rank"] for r in pack.ranked] == sorted(r["rank"] for r in pack.ranked)
    panel = read_table(experiment.output_dir(settings) / "features", "panel")
    as_of = pd.Timestamp(pack.meta["as_of"])
    checked = 0
    for row in pack.ranked:
        assert row["low"] <= row["expected"] <= row["high"] + 1e-9
        assert 1 <= len(row["reasons"]) <= 3
        for reason in row["reasons"]:
            if reason["usual"] is not None and reason["feature"] in panel:
                own = panel[(panel[C.AREA_ID] == row["area_id"]) & (panel[C.PERIOD] <= as_of)]
                assert reason["usual"] == pytest.approx(own[reason["feature"]].mean())
                checked += 1
    assert checked
    english = render_html(pack, "en")
    first = pack.ranked[0]["reasons"][0]
    assert pack.features[first["feature"]]["en"][1:] in english
    assert pack.features[first["feature"]]["zh"] in render_html(pack, "zh")
    assert pack.meta["level"] == "street" and {u["unit_id"] for u in pack.units} == {"S0", "S1"}
    assert [t["unit_id"] for t in pack.trends] == ["city", *(u["unit_id"] for u in pack.units)]
    assert all(t["points"] and t["model"] for t in pack.trends)
    assert sum(g["count"] for g in pack.warnings) >= 1  # the tiny city's thresholds are low
    assert pack.ingest["quarantine"] == {"incidents": {"area_id": 1, "occurred_at": 1}}
    assert pack.model["skill"] and pack.model["version"] == pack.meta["model_version"]


def shown_counts(pack: MeetingPack, family: dict[str, str]) -> list:
    """Every observed count the pack shows (averages and rates are not counts)."""
    found = [row[k] for row in pack.headline if row["key"].startswith("stream:")
             for k in ("now", "previous", "last_year")]
    found += [u["observed"] for u in pack.units]
    found += [r["value"] for row in pack.ranked for r in row["reasons"]
              if is_count(r["feature"], family[r["feature"]])]
    found += [v for g in pack.warnings for item in g["items"]
              for k, v in item["counts"].items() if is_count(k, family[k])]
    found += [e[k] for rows in (pack.changes[c] for c in ("new", "escalated", "de_escalated"))
              for row in rows for e in row["explained"] if is_count(e["feature"],
                                                                    family[e["feature"]])
              for k in ("before", "now")]
    return [v for v in found if v is not None]


def test_small_counts_are_suppressed(pack, city):
    assert suppress(0.0, 3) == 0.0 and suppress(1.0, 3) == "<3" and suppress(2.0, 3) == "<3"
    assert suppress(3.0, 3) == 3.0 and suppress(float("nan"), 3) is None
    assert is_count("collective_sum_4", "counts") and not is_count("collective_mean_all", "counts")
    assert not is_count("population", "static")
    settings, _, experiment = city
    catalogue_path = experiment.output_dir(settings) / "features" / "catalogue.json"
    family = families(input_catalogue(pd.read_json(catalogue_path)))
    values = shown_counts(pack, family)
    assert values and all(isinstance(v, str) or v == 0 or v >= 3 for v in values)

    store = open_store(f"sqlite:///{settings.data_dir / 'meeting-suppressed.db'}")
    strict = build_pack(experiment, settings, level="district", store=store, record=False,
                        config=ReportConfig(min_count=10_000))
    values = shown_counts(strict, family)
    assert "<10000" in values
    assert all(v == "<10000" or v == 0 for v in values)
    html = render_html(strict, "zh")
    assert "&lt;10000" in html and "1至9999的计数" in html
    city_now = next(r for r in strict.headline if r["key"] == "stream:all")
    assert city_now["change"] is None  # a change between hidden counts would give them away


def test_the_scorecard_is_empty_at_first_then_scores_recorded_vintages(pack, city):
    assert pack.scorecard["rows"] == []
    for lang in LANGS:
        assert catalogue()[lang]["scorecard"]["empty"] in render_html(pack, lang)
    settings, _, experiment = city
    store = open_store(f"sqlite:///{settings.data_dir / 'meeting-ledger.db'}")
    build_pack(experiment, settings, as_of="2023-11-08", store=store)  # records a vintage
    later = build_pack(experiment, settings, store=store, record=False)
    rows = later.scorecard["rows"]
    assert rows and {r["source"] for r in rows} == {"report"}
    assert rows[0]["as_of"] == "2023-11-06" and 0 <= rows[0]["brier"] <= 1
    assert later.scorecard["history"] and later.scorecard["totals"]["vintages"] == 1
    assert all(b["n"] >= 20 for b in later.scorecard["calibration"])  # 6 grids: no bin yet
    html = render_html(later, "en")
    assert catalogue()["en"]["scorecard"]["empty"] not in html and "meeting pack" in html
    assert later.meta["since"] < later.meta["as_of"]
    assert pd.Timestamp(later.meta["as_of"]) - pd.Timestamp(later.meta["since"]) == \
        pd.Timedelta(weeks=1)
    # Each level's forecasts of the last 13 weeks, and how many came true, in plain words.
    recorded = store.forecasts(experiment=experiment.name)
    warned = recorded[(recorded["horizon"] == later.meta["horizon"])
                      & (recorded["risk_level"] != "none")]
    tally = later.scorecard["tally"]
    assert sum(r["forecasts"] for r in tally) == len(warned) > 0
    assert all(0 <= r["came_true"] <= r["forecasts"] and r["source"] == "report" for r in tally)
    first = tally[0]
    level = catalogue()["en"]["levels"][first["level"]]
    assert (f"Of {first['forecasts']} {level} forecasts from the meeting pack for "
            f"{first['first_target']} to {first['last_target']}, {first['came_true']} came "
            "true.") in html
    zh = render_html(later, "zh")
    assert f"{first['forecasts']}次{catalogue()['zh']['levels'][first['level']]}预警中有" in zh


def test_the_pack_says_what_each_level_promises(pack, city):
    _, _, experiment = city
    levels = pack.scorecard["levels"]
    assert [r["level"] for r in levels] == ["red", "orange", "yellow", "blue"]
    # no backtest file in this city: the fixed probabilities stand, and the pack says so
    assert all(r["source"] == "fixed" for r in levels)
    assert [r["threshold"] for r in levels] == [experiment.warnings.threshold(lv)
                                                for lv in ("red", "orange", "yellow", "blue")]
    html = render_html(pack, "en")
    assert catalogue()["en"]["promises"]["title"] in html and 'id="promises"' in html
    assert catalogue()["zh"]["promises"]["no_promise"] in render_html(pack, "zh")


def test_as_of_and_since_resolve_to_periods_or_fail_in_one_sentence():
    periods = pd.date_range("2023-01-02", periods=10, freq="W-MON")
    assert resolve_period(periods, None, "--as-of") == periods[-1]
    assert resolve_period(periods, "2023-01-04", "--as-of") == periods[0]
    assert resolve_period(periods, "2023-03-12", "--as-of") == periods[-1]
    with pytest.raises(InputError, match=r"--as-of 'soon' is not a date"):
        resolve_period(periods, "soon", "--as-of")
    with pytest.raises(InputError, match=r"outside the data.*2023-01-02 to 2023-03-06"):
        resolve_period(periods, "2023-03-13", "--as-of")
    with pytest.raises(InputError, match=r"--since 2022-12-31 is outside"):
        resolve_period(periods, "2022-12-31", "--since")


def squares(n: int, geometry: bool) -> pd.DataFrame:
    """n unit squares in a row, two grids per street, as the clean areas table holds them."""
    wkt = [f"POLYGON (({i} 0, {i + 1} 0, {i + 1} 1, {i} 1, {i} 0))" for i in range(n)]
    return pd.DataFrame({C.AREA_ID: [f"G{i}" for i in range(n)],
                         C.AREA_NAME: [f"网格{i}" for i in range(n)],
                         C.COMMUNITY_ID: [f"C{i // 2}" for i in range(n)],
                         C.STREET_ID: [f"S{i // 2}" for i in range(n)],
                         C.STREET_NAME: [f"第{i // 2}街道" for i in range(n)],
                         C.DISTRICT_ID: "D0",
                         C.GEOMETRY: wkt if geometry else [None] * n})


def test_the_map_draws_units_from_polygons_and_tiles_without_geometry():
    context = area_context(squares(4, geometry=True))
    levels = {"G0": "none", "G1": "red", "G2": "none", "G3": "none"}
    shapes = outlines(context, "street", levels)
    assert set(shapes["units"]) == {"S0", "S1"} and set(shapes["grids"]) == {"G1"}
    units = [{"unit_id": "S0", "name": "第0街道", "level": "red"},
             {"unit_id": "S1", "name": "第1街道", "level": "none"}]
    svg = map_svg(units, shapes, levels)
    assert svg.count("<path") == 3 and "第0街道" in svg and "第1街道" in svg
    assert "#e60012" in svg  # the red grid, and its street tinted red
    heights = [float(v) for v in re.search(r'viewBox="0 0 (\S+) (\S+)"', svg).groups()]
    assert heights[0] > 3 * heights[1]  # two 2x1 streets side by side: a wide map

    bare = area_context(squares(4, geometry=False))
    empty = outlines(bare, "street", levels)
    assert empty == {"units": {}, "grids": {}}
    tiles = map_svg(units, empty, levels)
    assert 'class="map tiles"' in tiles and tiles.count("<rect") == 2 and "第1街道" in tiles


def non_white_share(pdf: Path) -> list[float]:
    import pypdfium2 as pdfium

    shares = []
    document = pdfium.PdfDocument(pdf)
    for page in document:
        pixels = np.asarray(page.render(scale=0.5).to_pil().convert("L"))
        shares.append(float((pixels < 235).mean()))
    document.close()
    return shares


@pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
def test_the_pdf_prints_every_page_with_chinese_text(pack, tmp_path):
    import pypdfium2 as pdfium

    html, pdf = write_report(pack, "zh", tmp_path / "pack")
    assert html.is_file() and pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    shares = non_white_share(pdf)
    assert len(shares) >= 2 and shares[0] > 0.03 and min(shares) > 0.003
    document = pdfium.PdfDocument(pdf)
    text = document[0].get_textpage().get_text_range()
    every = "".join(page.get_textpage().get_text_range() for page in document)
    document.close()
    assert "风险研判会议材料" in text and "主要指标" in text
    # the safety index and the equity sections, each headed with the as-of and compared weeks
    flat = re.sub(r"\s+", "", every)
    for title in ("平安指数", "预警分布是否均衡"):
        assert f"{title}（研判期2023-12-25起，对比2023-12-18起的一期）" in flat, title
    assert "排名(1为最平安)" in flat and "上期也在预警" in flat


def riskgrid(*args: str, settings: Settings) -> subprocess.CompletedProcess:
    env = {**os.environ, "RISKGRID_DATA_DIR": str(settings.data_dir),
           "RISKGRID_PSEUDONYM_SECRET": "test", "COLUMNS": "200"}
    return subprocess.run([str(BIN / "riskgrid"), "report", *args], capture_output=True,
                          text=True, env=env, timeout=600, check=False)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, \
        done.stderr
    return lines[0]


def test_the_command_prints_its_paths_and_fails_in_one_line(city, tmp_path):
    settings, path, _ = city
    assert "--level" in one_line_error(riskgrid(str(path), "--level", "grid", settings=settings))
    assert "--lang" in one_line_error(riskgrid(str(path), "--lang", "fr", settings=settings))
    assert "not a date" in one_line_error(riskgrid(str(path), "--as-of", "2023-13-45",
                                                   settings=settings))
    assert "outside the data" in one_line_error(riskgrid(str(path), "--as-of", "2031-01-01",
                                                         settings=settings))
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    out = tmp_path / "pack"
    done = riskgrid(str(path), "--lang", "en", "--out", str(out), settings=settings)
    assert done.returncode == 0, done.stderr
    assert f"html {out / 'report.html'}" in done.stdout
    assert f"pdf  {out / 'report.pdf'}" in done.stdout
    assert (out / "report.pdf").stat().st_size > 10_000
    assert "Risk-assessment meeting pack" in (out / "report.html").read_text(encoding="utf-8")


def test_the_default_folder_names_the_period_the_level_and_the_language(pack, city):
    settings, _, experiment = city
    assert default_out(settings, experiment, pack, "en") == (
        settings.data_dir / "tiny" / "reports" / "2023-12-25-street-en")


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 16 MiB tmpfs of the test's own, so the disk can really fill up (needs root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); run as root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` to the last byte, then give back ``leave`` bytes."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    os.truncate(filler, max(filler.stat().st_size - leave, 0))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
def test_a_full_disk_fails_clearly_and_leaves_the_earlier_report_whole(pack, city, small_disk):
    out = small_disk / "pack"
    write_report(pack, "zh", out)
    before = snapshot(out)
    assert set(before) == {"report.html", "report.pdf"}

    fill(small_disk)  # no room for the HTML
    with pytest.raises(InputError, match="no space left") as error:
        write_report(pack, "en", out)
    assert str(out) in str(error.value) and "unchanged" in str(error.value)
    assert snapshot(out) == before

    settings, path, _ = city  # the command says it in one line, exit code 2
    message = one_line_error(riskgrid(str(path), "--lang", "en", "--out", str(out),
                                      settings=settings))
    assert "no space left" in message and str(out) in message
    assert snapshot(out) == before

    (small_disk / "filler").unlink()  # room for the HTML, not for the PDF
    fill(small_disk, leave=len(render_html(pack, "en").encode("utf-8")) + 8192)
    with pytest.raises(InputError, match="is full") as error:
        write_report(pack, "en", out)
    assert "report.pdf" in str(error.value)
    assert snapshot(out) == before  # not even the new HTML: the pair stays together

    (small_disk / "filler").unlink()  # space again: the next run writes the new report
    write_report(pack, "en", out)
    after = snapshot(out)
    assert set(after) == {"report.html", "report.pdf"} and after != before
    assert "Risk-assessment meeting pack" in after["report.html"].decode("utf-8")


def test_the_units_table_uses_the_scores_of_the_api(pack, city):
    settings, _, experiment = city
    from serving import Scorer, load_champion, load_serving_data

    scorer = Scorer(load_champion(settings, experiment.name),
                    load_serving_data(experiment, settings), experiment)
    when = pd.Timestamp(pack.meta["as_of"])
    ids = [u["unit_id"] for u in pack.units]
    api = {s["area_id"]: s for s in scorer.score(ids, [pack.meta["horizon"]], when)}
    for unit in pack.units:
        same = api[unit["unit_id"]]
        assert unit["expected"] == pytest.approx(same["expected_count"])
        assert [unit["low"], unit["high"]] == same["interval"]
        assert unit["probability"] == pytest.approx(same["risk_probability"])
        assert unit["rank"] == same["rank"] and unit["score_level"] == same["risk_level"]
    assert sorted(u["rank"] for u in pack.units) == list(range(1, len(pack.units) + 1))
    assert catalogue()["zh"]["map"]["any_high"] in render_html(pack, "zh")


def test_every_heading_carries_the_as_of_and_comparison_dates_in_plain_words(pack):
    words = catalogue()
    for lang in LANGS:
        html = render_html(pack, lang)
        headings = re.findall(r"<h2>([^<]*)</h2>", html)
        assert len(headings) >= len(SECTIONS)
        assert all(pack.meta["as_of"] in h and pack.meta["since"] in h for h in headings)
    zh = render_html(pack, "zh")
    for jargon in ("Brier评分", "泊松偏差", "预测步长", "对数贡献"):
        assert jargon not in zh and jargon not in str(words["zh"])
    assert "集体上访" in str(words["zh"]) and "重复信访" in str(words["zh"])


@pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
def test_the_pack_shows_the_meetings_levels_and_the_data_alarms(pack, city, tmp_path):
    import pypdfium2 as pdfium

    settings, _, experiment = city
    store = open_store(f"sqlite:///{settings.data_dir / 'meeting-overrides.db'}")
    top = pack.ranked[0]  # forecasts for 2024-01-01, the week after the as-of week
    level, reason = ("none", "dispute_settled") if top["level"] != "none" else ("red", "other")
    store.set_override("tiny", top["area_id"], "2024-01-01", level, reason, "调解已完成", "李明")
    store.set_override("tiny", "S1", "2024-01-01", "red", "demolition_notice", "拆迁公告",
                       "李明")
    store.set_override("tiny", "A0", "2023-12-25", "red", "new_dispute", "上周的判断", "王芳",
                       model_level="none")  # as set before that week: now it can be judged
    quarantine = experiment.output_dir(settings) / "clean" / "quarantine" / "petitions.csv"
    weeks = pd.date_range("2023-11-27", "2023-12-29", freq="D")[::2]
    pd.DataFrame({"row": range(len(weeks)), "reason": "column topic: value '讨薪' is not in the "
                  "mapping's [recode.topic] table; add it there",
                  "filed_at": weeks.strftime("%Y-%m-%dT10:00:00")}).to_csv(quarantine,
                                                                         index=False)
    try:
        shown = build_pack(experiment, settings, level="street", store=store, record=False)
    finally:
        quarantine.unlink()
    row = next(r for r in shown.ranked if r["area_id"] == top["area_id"])
    assert row["level"] == level and shown.overrides["marks"][top["area_id"]]["model_level"] \
        == top["level"]
    assert next(u for u in shown.units if u["unit_id"] == "S1")["level"] == "red"
    assert [(o["area_id"], o["reason_zh"]) for o in shown.overrides["rows"]] == [
        ("S1", "发布拆迁、征地或搬迁公告"), (top["area_id"], experiment.warnings.override_reasons[
            reason].zh)][::1 if top["area_id"] > "S1" else -1]
    (judged,) = shown.overrides["summary"]  # A0's week is observed: scored apart
    assert judged["direction"] == "raised" and judged["overrides"] == 1
    (alarm,) = shown.alarms
    assert (alarm["kind"], alarm["source"], alarm["value"]) == ("category_new", "petitions", "讨薪")
    english = render_html(shown, "en")
    words = catalogue()["en"]["overrides"]
    assert words["mark"] in english and "model: " in english
    assert str(escape(alarm["sentence_en"])) in english
    assert str(escape(words["raised"].format(n=1, hits=judged["came_true"],
                                             meeting=judged["meeting_closer"],
                                             model=judged["model_closer"]))) in english
    html, pdf = write_report(shown, "zh", tmp_path / "shown")
    document = pdfium.PdfDocument(pdf)
    text = "".join(page.get_textpage().get_text_range() for page in document).replace("\r\n", "")
    document.close()
    for said in ("会议调整的预警等级（研判期2023-12-25起", "发布拆迁、征地或搬迁公告", "调解已完成",
                 "会议调整的等级后来是否应验", "数据异常提示", "讨薪"):
        assert said in text, said
