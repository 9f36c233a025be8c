"""The dashboard in headless Chromium against the real service (see conftest), with no internet."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

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

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
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
def dashboard(browser, server) -> Iterator[Offline]:
    opened = Offline(browser, server.url)
    yield opened
    opened.context.close()
    assert opened.blocked == [], "the dashboard tried to reach the internet"
    assert opened.errors == [], "the page raised JavaScript errors"


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
    header = page.inner_text("#model")
    assert scores["model_version"] in header and scores["as_of"] in header
    colour = page.get_attribute(f"#map [data-area={top['area_id']}] path", "class")
    assert f"level-{top['risk_level']}" in colour

    # a grid clicked on the map: its drivers (readable labels) and its street's trend
    page.click("#map [data-area=A2]")
    page.wait_for_selector("#drivers .driver")
    page.wait_for_selector("#trend svg path.band")
    explained = server.post("explain", {"area_id": "A2", "horizon": 1}, key="S0").json()
    strongest = max(explained["contributions"], key=lambda d: abs(d["contribution"]))
    assert page.locator("#drivers .driver .label").first.inner_text().startswith(
        strongest["label_en"])
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

    # Chinese labels on the toggle
    page.click("#lang")
    assert page.locator("#drivers .driver .label").first.inner_text().startswith(
        strongest["label_zh"])
    assert re.search(r"[\u4e00-\u9fff]", page.inner_text("#warnings"))
    assert page.get_attribute("html", "lang") == "zh-CN"

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
    assert "over the cap of 5" in page.inner_text("#map-note")

    warning = issued_in_s0(server)[-1]
    dashboard.connect(server.keys["S0"])  # a viewer may look but not act
    page.wait_for_selector(f"#warnings tr[data-warning-id='{warning['warning_id']}']")
    page.click(f"#warnings tr[data-warning-id='{warning['warning_id']}'] "
               "button[data-action=acknowledge]")
    page.wait_for_function("document.querySelector('#error-text').textContent.includes('403')")
    assert "analyst role" in page.inner_text("#error")
    still = [w for w in server.store.query_warnings() if w["warning_id"] == warning["warning_id"]]
    assert still[0]["status"] == "issued"
