"""The meeting pack as a self-contained HTML page, and that page printed to PDF by Chromium."""

from __future__ import annotations

import errno
import shutil
import subprocess
import tempfile
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from features import STREAMS
from reporting import charts
from reporting.labels import labels
from reporting.pack import MeetingPack
from reporting.safety import map_units
from riskgrid.errors import InputError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
PRINT_SECONDS = 180
CITY_CHART, UNIT_CHART, SMALL_CHART = (7.2, 2.2), (3.5, 1.45), (3.5, 2.0)


class Words:
    """Numbers and names as the pack's language writes them (used by the template)."""

    def __init__(self, pack: MeetingPack, lang: str):
        self.pack, self.lang, self.t = pack, lang, labels(lang)

    def num(self, value: float | str | None) -> str:
        """A number for reading: counts whole, small values with two decimals; "<3" stays."""
        if value is None:
            return self.t["unknown"]
        if isinstance(value, str):
            return value
        if float(value).is_integer():
            return f"{int(value):,}"
        size = abs(value)
        return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 1 else f"{value:.2f}"

    def metric(self, value: float | None) -> str:
        """A score such as MAE or Brier: three significant digits."""
        return self.t["unknown"] if value is None else f"{value:.3g}"

    def pct(self, value: float | None, signed: bool = True) -> str:
        if value is None:
            return self.t["unknown"]
        digits = 1 if abs(value) < 0.1 else 0
        return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"

    def prob(self, value: float | None) -> str:
        if value is None:
            return self.t["unknown"]
        return f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"

    def interval(self, low: float | None, high: float | None) -> str:
        return self.t["interval"].format(low=self.num(low), high=self.num(high))

    def level(self, level: str | None) -> str:
        return self.t["levels"].get(level or "none", level or "")

    def badge(self, level: str | None) -> Markup:
        key = level or "none"
        return Markup('<span class="badge {}">{}</span>').format(key, self.level(key))

    def place(self, unit_id: str) -> str:
        if unit_id == "city":
            return self.t["city"]
        return self.pack.places.get(unit_id, unit_id)

    def feature(self, name: str) -> str:
        found = self.pack.features.get(name)
        return found[self.lang] if found else name

    def stream(self, name: str) -> str:
        en, zh = STREAMS.get(name, (name, name))
        text = zh if self.lang == "zh" else en
        return self.t["headline"]["stream"].format(stream=text)

    def headline_label(self, key: str) -> str:
        kind, _, name = key.partition(":")
        pct = round(self.pack.meta["interval"] * 100)
        if kind == "stream":
            return self.capital(self.stream(name))
        if kind == "level":
            return self.t["headline"]["grids_at"].format(level=self.level(name))
        return self.t["headline"]["forecast"].format(pct=pct)

    def reason(self, reason: dict) -> str:
        words = self.t["ranked"]
        label = self.capital(self.feature(reason["feature"]))
        if reason["usual"] is None:
            return words["reason_plain"].format(label=label, value=self.num(reason["value"]))
        return words["reason"].format(label=label, value=self.num(reason["value"]),
                                      usual=self.num(reason["usual"]))

    def explain(self, item: dict) -> str:
        return self.t["changes"]["explain"].format(
            label=self.capital(self.feature(item["feature"])), before=self.num(item["before"]),
            now=self.num(item["now"]))

    def fact(self, key: str, value: float | str) -> str | None:
        label = self.t["facts"].get(key)
        if label is None:
            return None
        shown = self.prob(value) if key == "risk_probability" else self.num(value)
        return self.t["fact"].format(label=label, value=shown)

    def count(self, feature: str, value: float | str) -> str:
        return self.t["fact"].format(label=self.feature(feature), value=self.num(value))

    def heading(self, section: str) -> str:
        """A section's title with the as-of week and the week it is compared with."""
        meta, title = self.pack.meta, self.t["sections"][section]
        if meta.get("since"):
            return self.t["dated"].format(title=title, as_of=meta["as_of"], since=meta["since"])
        return self.t["dated_alone"].format(title=title, as_of=meta["as_of"])

    def points(self, value: float | None, signed: bool = False) -> str:
        """An index value, or a change of it, in points (one decimal)."""
        if value is None:
            return self.t["unknown"]
        return f"{value:+.1f}" if signed else f"{value:.1f}"

    def figure(self, indicator: str, value: float | None) -> str:
        """A safety-index figure: the share of late closings in per cent, others as numbers."""
        return self.pct(value, False) if indicator == "closed_late" else self.num(value)

    def capital(self, text: str) -> str:
        return text[:1].upper() + text[1:] if self.lang == "en" else text


def _environment() -> Environment:
    return Environment(loader=PackageLoader("reporting", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _charts(pack: MeetingPack) -> dict:
    """Every chart of the pack: data: URIs for the trends and scorecard, inline SVG for the map."""
    trends = [charts.trend_chart(t["points"], t["model"],
                                 CITY_CHART if i == 0 else UNIT_CHART)
              for i, t in enumerate(pack.trends)]
    card = pack.scorecard
    history = (charts.metric_chart(card["history"], ["hit_rate", "brier", "coverage"],
                                   SMALL_CHART) if len(card["history"]) >= 2 else None)
    calibration = (charts.calibration_chart(card["calibration"], SMALL_CHART)
                   if card["calibration"] else None)
    return {"trends": trends, "history": history, "calibration": calibration,
            "map": Markup(charts.map_svg(pack.units, pack.outlines, pack.grid_levels)),
            "safety_map": Markup(charts.map_svg(map_units(pack.safety, pack.places),
                                                {"units": pack.outlines["units"], "grids": {}},
                                                {}))}


def render_html(pack: MeetingPack, lang: str) -> str:
    """The pack as one HTML page in ``lang`` (zh or en), with its charts and styles inside."""
    words = Words(pack, lang)
    return _environment().get_template("report.html.j2").render(
        pack=pack, t=words.t, w=words, charts=_charts(pack), colours=charts.COLOURS,
        named_units=len(pack.units) <= charts.NAMED_UNITS)


def find_chromium() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html: Path, pdf: Path) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (A4, no header or footer)."""
    browser = find_chromium()
    if browser is None:
        raise InputError(f"the PDF needs headless Chromium, which is not installed (looked for "
                         f"chromium, chromium-browser and google-chrome); install Debian's "
                         f"chromium package (make system) or open the HTML at {html}")
    partial = pdf.with_name(f".{pdf.name}.partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="riskgrid-chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                   "--no-pdf-header-footer", "--no-first-run", "--disable-extensions",
                   f"--user-data-dir={profile}", f"--print-to-pdf={partial}",
                   html.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=PRINT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise InputError(f"Chromium did not print {html} within {PRINT_SECONDS} s; the "
                             "HTML is complete, print it from a browser") from None
    if not _whole_pdf(partial):
        partial.unlink(missing_ok=True)
        _check_space(pdf.parent, pdf.name)
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:300]
        raise InputError(f"Chromium ({browser}) printed no complete PDF of {html} (exit code "
                         f"{done.returncode}: {tail}); the HTML is complete")
    partial.replace(pdf)
    return pdf


def _whole_pdf(path: Path) -> bool:
    """Whether ``path`` holds a PDF to its end (a full disk cuts a print short)."""
    if not path.is_file() or path.stat().st_size < 16:
        return False
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(5)
        fh.seek(max(size - 1024, 0))
        tail = fh.read()
    return head == b"%PDF-" and b"%%EOF" in tail


# Room a print needs: below this much free space a failed print is blamed on the full disk.
PRINT_ROOM = 4 * 1024 * 1024


class DiskFull(InputError):
    """The disk filled up while the report was written; nothing was published."""


def _check_space(folder: Path, name: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < PRINT_ROOM:
        raise DiskFull(f"the disk holding {folder} is full ({free // 1024} KiB free) while "
                       f"writing {name}; free some space and run riskgrid report again (any "
                       "earlier report there is unchanged)")


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        path.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"no space left on the disk holding {path.parent} while writing "
                           "report.html; free some space and run riskgrid report again (any "
                           "earlier report there is unchanged)") from None
        raise


def write_report(pack: MeetingPack, lang: str, out: Path, pdf: bool = True
                 ) -> tuple[Path, Path | None]:
    """Write ``out/report.html`` and, when ``pdf``, ``out/report.pdf``; returns their paths.

    Both are written under staging names and renamed into place together, so a folder holds
    the new report or the previous one, never a part of either. When the disk fills up,
    nothing is published; when only the print fails, the HTML is published alone.
    """
    out.mkdir(parents=True, exist_ok=True)
    html, staged_html = out / "report.html", out / ".report.staged.html"
    document, staged_pdf = out / "report.pdf", out / ".report.staged.pdf"
    _write_text(staged_html, render_html(pack, lang))
    try:
        if pdf:
            print_pdf(staged_html, staged_pdf)
    except DiskFull as error:
        staged_html.unlink(missing_ok=True)
        raise DiskFull(str(error).replace(staged_pdf.name, document.name)) from None
    except InputError as error:
        staged_html.replace(html)
        document.unlink(missing_ok=True)  # an earlier PDF would not match the new HTML
        raise InputError(str(error).replace(str(staged_html), str(html))) from None
    staged_html.replace(html)
    if not pdf:
        return html, None
    staged_pdf.replace(document)
    return html, document
