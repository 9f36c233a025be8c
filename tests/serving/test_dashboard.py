"""The dashboard in headless Chromium against the real service (see conftest), with no internet."""

from __future__ import annotations

import csv
import io
import math
import re
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.server]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-output" / "dashboard.png"
S0_GRIDS = {"A0", "A1", "A2", "A3"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TIMEOUT = 60_000  # ms: the first score of a period may take a moment on a busy machine


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


class Offline:
    """A browser page that may only talk to loopback; what else it tried is kept."""

    def __init__(self, browser, url: str, locale: str = "en-US") -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           locale=locale, accept_downloads=True)
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._guard)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(f"{url}/dashboard/")

    def _guard(self, route) -> None:
        url = route.request.url
        if url.startswith("data:") or urlparse(url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def connect(self, key: str) -> None:
        self.page.fill("#key", key)
        self.page.click("#connect")


@pytest.fixture
def open_dashboard(browser, server) -> Iterator:
    """Opens the dashboard in a fresh browser profile with the given locale; afterwards, none
    may have tried the internet or raised a JavaScript error."""
    opened: list[Offline] = []

    def open_(locale: str = "en-US") -> Offline:
        opened.append(Offline(browser, server.url, locale))
        return opened[-1]

    yield open_
    for each in opened:
        each.context.close()
        assert each.blocked == [], "the dashboard tried to reach the internet"
        assert each.errors == [], "the page raised JavaScript errors"


@pytest.fixture
def dashboard(open_dashboard) -> Offline:
    return open_dashboard("en-US")  # an English browser: the page opens in English


def plain(x: float) -> str:
    """A value as the dashboard writes it (text.js plain): whole numbers as they are, else 1
    decimal from 1 up, 2 below, trailing zeros dropped."""
    if x is None:
        return "–"
    if float(x).is_integer():
        return str(int(x))
    digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 1 else 2
    # as JavaScript's toFixed: the exact binary value, halves away from zero
    text = str(Decimal(x).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))
    return text.rstrip("0").rstrip(".") if "." in text else text


def issued_in_s0(server) -> list[dict]:
    """The S0 grids' issued warnings, once the service's background run has stored them."""
    deadline = time.monotonic() + 90
    while not (found := [w for w in server.store.query_warnings(status="issued")
                         if w["area_id"] in S0_GRIDS]):
        assert time.monotonic() < deadline, "no warnings were issued for the grids of S0"
        time.sleep(1)
    return found


def test_dashboard_maps_ranks_explains_and_acts_on_warnings(server, dashboard):
    warning = issued_in_s0(server)[0]
    _, analyst = server.store.create_key("analyst", "S0", "dashboard test")
    page = dashboard.page
    dashboard.connect(analyst)

    # the map (tiles: the tiny city has no geometry, and the page says so) and the ranked list
    page.wait_for_function("document.querySelectorAll('#map [data-area]').length === 4")
    page.wait_for_function("document.querySelectorAll('#ranking tbody tr').length === 4")
    assert "tiles" in page.inner_text("#map-note")
    scores = server.post("score", {"area_ids": sorted(S0_GRIDS)}, key="S0").json()
    by_rank = sorted(scores["scores"], key=lambda s: s["rank"])
    rows = page.locator("#ranking tbody tr")
    assert [rows.nth(i).get_attribute("data-area") for i in range(4)] == [
        s["area_id"] for s in by_rank]
    top = by_rank[0]
    assert f"{round(top['risk_probability'] * 100)}%" in rows.first.inner_text()
    # each grid's safety index beside its risk, as /safety_index gives it
    index = server.post("safety_index", {"area_ids": sorted(S0_GRIDS)}, key="S0").json()
    value = next(i["value"] for i in index["index"] if i["area_id"] == top["area_id"])
    assert rows.first.locator("td.safety").inner_text() == f"{value:.1f}"
    header = page.inner_text("#model")
    assert scores["model_version"] in header and scores["as_of"] in header
    colour = page.get_attribute(f"#map [data-area={top['area_id']}] path", "class")
    assert f"level-{top['risk_level']}" in colour
    # the communities one level up are drawn around their grids, and named
    boundaries = page.locator("#map .boundary")
    assert sorted(boundaries.nth(i).get_attribute("data-unit") for i in range(2)) == ["C0", "C1"]
    assert boundaries.count() == 2 and "community boundaries" in page.inner_text("#map-note")
    # hovering a grid labels it: name, level, probability, rank
    page.hover("#map [data-area=A1]")
    page.wait_for_selector("#map-tip:not([hidden])")
    a1 = next(s for s in scores["scores"] if s["area_id"] == "A1")
    tip = page.inner_text("#map-tip")
    assert "A1" in tip and "C0" in tip and f"{round(a1['risk_probability'] * 100)}%" in tip
    assert f"Rank {a1['rank']}" in tip

    # a grid clicked on the map: its drivers (readable labels) and its street's trend
    page.click("#map [data-area=A2]")
    page.wait_for_selector("#drivers .driver")
    page.wait_for_selector("#trend svg path.band")
    explained = server.post("explain", {"area_id": "A2", "horizon": 1}, key="S0").json()
    strongest = max(explained["contributions"], key=lambda d: abs(d["contribution"]))
    said = page.locator("#drivers .driver .label").first.inner_text()
    # "<label>: <value>, usually <city mean>: raises the forecast by <exp(c) - 1>%"
    effect = math.exp(strongest["contribution"]) - 1
    assert said.startswith(f"{strongest['label_en']}: {plain(strongest['value'])}, usually "
                           f"{plain(strongest['typical'])}: "), said
    verb = "raises" if effect > 0 else "lowers"
    assert said.endswith(f"{verb} the forecast by {round(abs(effect) * 100)}%"), said
    assert "S0" in page.inner_text("#trend-note")
    assert "selected" in page.get_attribute("#map [data-area=A2] path", "class")

    # a warning acknowledged from its row: the row and the store say so
    row = page.locator(f"#warnings tr[data-warning-id='{warning['warning_id']}']")
    row.locator("button[data-action=acknowledge]").click()
    page.wait_for_function(  # the row's new status, or the service's refusal in the error bar
        "id => !document.querySelector('#error').hidden || document.querySelector("
        "`#warnings tr[data-warning-id='${id}'] td.status`).textContent.startsWith('acknowledged')",
        arg=warning["warning_id"])
    assert page.locator("#error").is_hidden(), page.inner_text("#error")
    stored = [w for w in server.store.query_warnings() if w["warning_id"] == warning["warning_id"]]
    assert stored[0]["status"] == "acknowledged"
    step = server.store.warning_history(warning["warning_id"])[-1]
    assert step["to_status"] == "acknowledged" and "dashboard test" in step["who"]
    assert row.locator("button[data-action=handle]").is_enabled()

    # dismissing asks for the reason in a dialog; no reason list sits on the rows
    assert page.locator("#warnings select").count() == 0
    row.locator("button[data-action=dismiss]").click()
    page.wait_for_selector("#dismiss-dialog[open]")
    page.select_option("#dismiss-reason", "duplicate")
    page.fill("#dismiss-note", "same as the street's warning")
    page.click("#dismiss-confirm")
    page.wait_for_function(
        "id => document.querySelector(`#warnings tr[data-warning-id='${id}']`).dataset.status "
        "=== 'dismissed' || !document.querySelector('#error').hidden", arg=warning["warning_id"])
    assert page.locator("#error").is_hidden(), page.inner_text("#error")
    step = server.store.warning_history(warning["warning_id"])[-1]
    assert (step["to_status"], step["reason_code"]) == ("dismissed", "duplicate")

    # Chinese labels on the toggle, kept across a reload
    page.click("#lang")
    assert page.locator("#drivers .driver .label").first.inner_text().startswith(
        strongest["label_zh"])
    assert re.search(r"[\u4e00-\u9fff]", page.inner_text("#warnings"))
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.reload()
    page.wait_for_function("document.querySelectorAll('#ranking tbody tr').length === 4")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#ranking-panel h2") == "网格风险排名"
    page.click("#map [data-area=A2]")
    page.wait_for_selector("#drivers .driver")
    assert "通常" in page.inner_text("#drivers")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_dashboard_shows_the_apis_errors(server, dashboard):
    page = dashboard.page
    dashboard.connect("rg_not_a_key")
    page.wait_for_selector("#error:not([hidden])")
    assert "401" in page.inner_text("#error")

    dashboard.connect(server.keys["city"])  # six grids: over the fixture's cap of five
    page.wait_for_function("document.querySelector('#error-text').textContent.includes('413')")
    assert "over the cap of 5" in page.inner_text("#error")
    # The map's note is drawn once the units and periods are in as well.
    page.wait_for_function("document.querySelector('#map-note').textContent.includes('cap of 5')")

    warning = issued_in_s0(server)[-1]
    dashboard.connect(server.keys["S0"])  # a viewer may look but not act
    page.wait_for_selector(f"#warnings tr[data-warning-id='{warning['warning_id']}']")
    page.click(f"#warnings tr[data-warning-id='{warning['warning_id']}'] "
               "button[data-action=acknowledge]")
    page.wait_for_function("document.querySelector('#error-text').textContent.includes('403')")
    assert "analyst role" in page.inner_text("#error")
    still = [w for w in server.store.query_warnings() if w["warning_id"] == warning["warning_id"]]
    assert still[0]["status"] == "issued"


PAST = "2023-10-02"  # a week of the tiny city's panel
# A past vintage as the ledger holds it: (area, expected count, probability, level)
VINTAGE = [("A0", 1.0, 0.1, "none"), ("A1", 2.0, 0.5, "orange"), ("A2", 3.0, 0.3, "yellow"),
           ("A3", 4.0, 0.7, "red"), ("A4", 5.0, 0.9, "red"), ("A5", 6.0, 0.2, "blue")]


def record_past_vintage(server) -> None:
    from serving.ledger import record_vintage

    if PAST in set(server.store.vintages(experiment="tiny", source="batch")["as_of"]):
        return
    frame = pd.DataFrame(VINTAGE, columns=["area_id", "expected_count", "risk_probability",
                                           "risk_level"])
    record_vintage(server.store, frame.assign(horizon=1, low=0.0, high=9.0), source="batch",
                   experiment="tiny", as_of=PAST, model_version="old", fingerprint="then")


def shown(page, table: str = "ranking", attribute: str = "data-area") -> list[str]:
    rows = page.locator(f"#{table} tbody tr")
    return [rows.nth(i).get_attribute(attribute) for i in range(rows.count())]


def downloaded(page, button: str) -> list[dict]:
    with page.expect_download() as started:
        page.click(button)
    text = Path(started.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_dashboard_searches_filters_goes_back_in_time_and_exports(server, open_dashboard):
    issued_in_s0(server)  # the latest period's warnings are stored
    record_past_vintage(server)
    assert open_dashboard("fr-FR").page.get_attribute("html", "lang") == "zh-CN"  # no zh/en
    dashboard = open_dashboard("zh-CN")
    page = dashboard.page
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert page.inner_text("#ranking-panel h2") == "网格风险排名"
    dashboard.connect(server.keys["S0"])
    page.wait_for_function("document.querySelectorAll('#ranking tbody tr').length === 4")
    page.wait_for_function("document.querySelectorAll('#as-of option').length >= 2")
    assert "第1–4行，共4行" in page.inner_text("#pager-text")

    # search by name or id
    page.fill("#search", "a3")
    assert shown(page) == ["A3"]
    assert page.locator("#map .area.dim").count() == 3
    page.fill("#search", "")
    assert len(shown(page)) == 4

    # a unit: the list keeps its grids and the map zooms to them
    whole = page.get_attribute("#map", "viewBox")
    page.select_option("#filter-unit", "C1")
    assert sorted(shown(page)) == ["A2", "A3"]
    assert page.get_attribute("#map", "viewBox") != whole
    page.click("#whole-map")
    assert page.get_attribute("#map", "viewBox") == whole and len(shown(page)) == 4

    # a kind: the warnings of that kind, and the grids they are on
    active = server.post("warnings", {}, key="S0").json()["warnings"]
    kind = active[0]["kind"]
    page.wait_for_function(f"document.querySelectorAll('#warnings tbody tr').length === "
                           f"{len(active)}")
    page.select_option("#filter-kind", kind)
    of_kind = [w for w in active if w["kind"] == kind]
    assert sorted(shown(page, "warnings", "data-warning-id")) == sorted(
        w["warning_id"] for w in of_kind)
    warned = {w["area_id"] for w in of_kind}  # grids, or the units above them (a surge)
    above = {"A0": "C0", "A1": "C0", "A2": "C1", "A3": "C1"}
    assert sorted(shown(page)) == sorted(g for g in S0_GRIDS
                                         if {g, above[g], "S0", "D0"} & warned)
    exported = downloaded(page, "#export-warnings")
    assert [r["warning_id"] for r in exported] == shown(page, "warnings", "data-warning-id")
    assert {r["kind"] for r in exported} == {kind}
    assert all(r["response"] == next(w["response_zh"] for w in of_kind
                                     if w["warning_id"] == r["warning_id"]) for r in exported)
    page.select_option("#filter-kind", "")

    # as of a past period: the ledger's forecasts as issued then
    page.select_option("#as-of", PAST)
    page.wait_for_function(f"document.querySelector('#model').textContent.includes('{PAST}')")
    page.wait_for_function("document.querySelector('#ranking tbody tr').dataset.area === 'A3'")
    assert shown(page) == ["A3", "A1", "A2", "A0"]  # ranked among all six grids then
    first = page.locator("#ranking tbody tr").first.inner_text()
    assert first.startswith("2") and "70%" in first
    assert "batch" in page.inner_text("#model") and "old" in page.inner_text("#model")
    page.select_option("#filter-level", "orange")
    assert shown(page) == ["A1"]
    page.select_option("#filter-level", "")
    rows = downloaded(page, "#export-ranking")
    assert [r["area_id"] for r in rows] == ["A3", "A1", "A2", "A0"]
    assert [r["rank"] for r in rows] == ["2", "3", "4", "6"]
    assert [float(r["risk_probability"]) for r in rows] == [0.7, 0.5, 0.3, 0.1]
    assert {r["as_of"] for r in rows} == {PAST} and {r["source"] for r in rows} == {"batch"}
    assert {r["model_version"] for r in rows} == {"old"}
    then = server.post("safety_index", {"area_ids": ["A3", "A1", "A2", "A0"], "as_of": PAST},
                       key="S0").json()["index"]
    assert [float(r["safety_index"]) for r in rows] == pytest.approx([i["value"] for i in then])
    page.click("#ranking tbody tr[data-area=A1]")  # its model is gone: no reasons to give
    page.wait_for_function("document.querySelector('#drivers-note').textContent.includes('台账')")
    assert page.locator("#drivers .driver").count() == 0
    page.wait_for_selector("#trend svg path.band")  # the trend as it stood then

    # print: only the panels, every row
    page.emulate_media(media="print")
    assert page.locator("#controls").is_hidden() and page.locator("#ranking").is_visible()
    page.emulate_media(media="screen")

    # the language chosen is kept across a reload, over the browser's
    page.click("#lang")
    assert page.get_attribute("html", "lang") == "en"
    page.reload()
    page.wait_for_function("document.querySelectorAll('#ranking tbody tr').length === 4")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#ranking-panel h2") == "Grids by risk"
    page.select_option("#as-of", PAST)
    page.wait_for_function("document.querySelector('#ranking tbody tr').dataset.area === 'A3'")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    past = SCREENSHOT.with_name("dashboard-past-period.png")
    page.screenshot(path=str(past), full_page=True)
    assert past.stat().st_size > 10_000


def test_dashboard_marks_the_meetings_levels_and_lists_the_data_alarms(server, dashboard):
    page = dashboard.page
    model = server.post("score", {"area_ids": ["A4"]}).json()["scores"][0]["risk_level"]
    level, reason = ("none", "dispute_settled") if model != "none" else ("red", "new_dispute")
    set_it = server.post("override", {"area_id": "A4", "period": "2024-01-01", "level": level,
                                      "reason_code": reason, "note": "dashboard check"},
                         key="analyst")
    assert set_it.status_code == 200, set_it.text
    try:
        dashboard.connect(server.keys["S1"])  # the street whose records stopped coming
        page.wait_for_function("document.querySelectorAll('#ranking tbody tr').length === 2")
        page.wait_for_function("!document.getElementById('data-alarms').hidden")
        alarms = page.inner_text("#data-alarms")
        (alarm,) = server.post("data_quality", {}, key="S1").json()["alarms"]
        assert "not risk" in alarms and alarm["sentence_en"] in alarms
        row = page.locator("#ranking tbody tr[data-area=A4]")
        levels = {"red": "red (I)", "none": "none", "orange": "orange (II)",
                  "yellow": "yellow (III)", "blue": "blue (IV)"}  # text.js
        text = row.inner_text()
        assert "set by the meeting" in text and f"model: {levels[model]}" in text
        assert "dashboard check" in row.locator(".set").get_attribute("title")
        assert "data alarm" in text and "data alarm" in page.locator(
            "#ranking tbody tr[data-area=A5]").inner_text()
        assert "set by the meeting" not in page.locator(
            "#ranking tbody tr[data-area=A5]").inner_text()
        colour = page.get_attribute("#map [data-area=A4] path", "class")
        assert f"level-{level}" in colour  # the map shows the level the meeting set
    finally:
        server.post("override", {"area_id": "A4", "period": "2024-01-01", "clear": True,
                                 "note": "done"}, key="analyst")
