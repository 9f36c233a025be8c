"""Charts of the meeting pack as SVG: trends (matplotlib) and the map (hand-written SVG).

The matplotlib charts hold numbers only (every word is in the HTML around them, from the
labels catalogue), so no CJK font is needed to lay them out; they are embedded as data: URIs,
which keeps each chart's SVG ids apart. The map is inline SVG: its unit names are text that the
page's CJK font renders.
"""

from __future__ import annotations

import base64
import io
import math
import re
from html import escape

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure

COLOURS = {"red": "#e60012", "orange": "#f39800", "yellow": "#ffd400", "blue": "#0068b7",
           "none": "#eeeeee"}
OBSERVED, FIT, BAND, MODEL = "#222222", "#1f5fa8", "#a9c4e6", "#d9480f"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "riskgrid", "font.size": 8,
       "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
       "xtick.major.width": 0.6, "ytick.major.width": 0.6}
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)
MAP_WIDTH, MAP_PAD = 680.0, 6.0
NAMED_UNITS = 20  # more units than this are labelled with their number in the unit table


def _svg_uri(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.03,
                metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", buffer.getvalue())
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _date_axis(ax, dates: pd.Series) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    short = dates.max() - dates.min() < pd.Timedelta(days=120)  # months would repeat
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d" if short else "%Y-%m"))
    ax.grid(axis="y", linewidth=0.4, color="#dddddd")
    ax.set_ylim(bottom=0)


def trend_chart(points: list[dict], model: list[dict], size: tuple[float, float]) -> str:
    """Observed counts, the trend fit and forecast with its interval, and the risk model's own
    forecast (sum of the unit's grids) with its interval, as an SVG data: URI.

    Args:
        points: period, observed (or None), fit, low, high, is_forecast; ``fit`` is None for a
            unit without a trend model (then only the observed line is drawn).
        model: period, expected, low, high of the risk model's forecasts.
        size: width and height in inches.
    """
    frame = pd.DataFrame(points)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=size)
        ax = fig.subplots()
        ds = pd.to_datetime(frame["period"])
        if frame["fit"].notna().any():
            ax.fill_between(ds, frame["low"].astype(float), frame["high"].astype(float),
                            color=BAND, linewidth=0, alpha=0.6)
            past = ~frame["is_forecast"].astype(bool)
            ax.plot(ds[past], frame.loc[past, "fit"], color=FIT, linewidth=0.9)
            ahead = ~past | (frame.index == past[past].index.max())  # joined to the past
            ax.plot(ds[ahead], frame.loc[ahead, "fit"], color=FIT, linewidth=1.2, linestyle="--")
        ax.plot(ds, frame["observed"].astype(float), color=OBSERVED, linewidth=0.9)
        if model:
            m = pd.DataFrame(model)
            mid = m["expected"].to_numpy(float)
            err = np.vstack([mid - m["low"].to_numpy(float), m["high"].to_numpy(float) - mid])
            ax.errorbar(pd.to_datetime(m["period"]), mid, yerr=np.clip(err, 0, None), fmt="D",
                        color=MODEL, markersize=2.5, elinewidth=0.8, capsize=1.5)
        if frame["is_forecast"].any():
            ax.axvline(ds[~frame["is_forecast"].astype(bool)].max(), color="#888888",
                       linewidth=0.6, linestyle=":")
        _date_axis(ax, ds)
        return _svg_uri(fig)


def metric_chart(rows: list[dict], metrics: list[str], size: tuple[float, float]) -> str:
    """Lines of scorecard metrics over the as-of periods of past forecasts (numbers only)."""
    frame = pd.DataFrame(rows)
    styles = ["-", "--", ":", "-."]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=size)
        ax = fig.subplots()
        dates = pd.to_datetime(frame["as_of"])
        for metric, style in zip(metrics, styles):
            ax.plot(dates, frame[metric].astype(float), style, color=OBSERVED, linewidth=1.0,
                    marker="o", markersize=2)
        _date_axis(ax, dates)
        return _svg_uri(fig)


def calibration_chart(rows: list[dict], size: tuple[float, float]) -> str:
    """Observed share of flagged periods against the forecast probability, by probability bin."""
    frame = pd.DataFrame(rows)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=size)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], color="#aaaaaa", linewidth=0.6, linestyle="--")
        ax.plot(frame["probability"], frame["observed"], marker="o", markersize=3,
                color=FIT, linewidth=1.0)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(linewidth=0.4, color="#dddddd")
        return _svg_uri(fig)


# --- the map --------------------------------------------------------------------------------


def _rings(geometry) -> list[np.ndarray]:
    rings = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, shapely.Polygon):
            rings.append(np.asarray(part.exterior.coords))
            rings += [np.asarray(r.coords) for r in part.interiors]
        elif isinstance(part, shapely.MultiPolygon | shapely.GeometryCollection):
            rings += _rings(part)
    return rings


class _Frame:
    """Projects map coordinates onto the SVG canvas (y grows downwards there)."""

    def __init__(self, bounds: tuple[float, float, float, float]):
        minx, miny, maxx, maxy = bounds
        self.minx, self.maxy = minx, maxy
        span_x, span_y = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        self.scale = (MAP_WIDTH - 2 * MAP_PAD) / span_x
        self.height = span_y * self.scale + 2 * MAP_PAD

    def point(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.minx) * self.scale + MAP_PAD, (self.maxy - y) * self.scale + MAP_PAD)

    def path(self, geometry) -> str:
        parts = []
        for ring in _rings(geometry):
            xy = [self.point(x, y) for x, y in ring[:, :2]]
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + " Z")
        return " ".join(parts)


def _label(x: float, y: float, text: str, size: float) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.0f}" text-anchor="middle" '
            f'dominant-baseline="middle" class="map-label">{escape(text)}</text>')


def map_svg(units: list[dict], outlines: dict, grid_levels: dict[str, str]) -> str:
    """Units coloured by risk level (or by their own ``fill``), the grids at a warning level
    on top, as inline SVG.

    Units without geometry (``outlines["units"]`` empty) are drawn as a grid of tiles instead.
    Units are labelled with their name, or with their number in ``units`` when there are many.
    """
    if not outlines["units"]:
        return _tiles(units)
    shapes = {u: shapely.from_wkt(w) for u, w in outlines["units"].items()}
    frame = _Frame(shapely.union_all(list(shapes.values())).bounds)
    named = len(units) <= NAMED_UNITS
    size = 20 if len(units) <= 6 else 15 if named else 11  # in units of the 680-wide canvas
    fills, grids, labels = [], [], []
    for number, unit in enumerate(units, start=1):
        shape = shapes.get(unit["unit_id"])
        if shape is None:
            continue
        tint = unit.get("fill") or COLOURS[unit["level"]]
        opacity = 1.0 if unit["level"] == "none" else 0.35
        fills.append(f'<path d="{frame.path(shape)}" fill="{tint}" fill-opacity="{opacity}" '
                     f'stroke="#333333" stroke-width="1.2" fill-rule="evenodd"/>')
        spot = shape.representative_point()
        labels.append(_label(*frame.point(spot.x, spot.y), unit["name"] if named
                             else str(number), size))
    for area, wkt in outlines["grids"].items():
        grids.append(f'<path d="{frame.path(shapely.from_wkt(wkt))}" '
                     f'fill="{COLOURS[grid_levels[area]]}" stroke="#ffffff" '
                     f'stroke-width="0.4" fill-rule="evenodd"/>')
    height = math.ceil(frame.height)
    return (f'<svg viewBox="0 0 {MAP_WIDTH:.0f} {height}" '
            f'class="map" role="img">{"".join(fills)}{"".join(grids)}{"".join(labels)}</svg>')


def _tiles(units: list[dict]) -> str:
    """Units as equal tiles in rows, for areas without geometry."""
    columns = max(1, math.ceil(math.sqrt(len(units))))
    side = min(120.0, (MAP_WIDTH - 2 * MAP_PAD) / columns)
    rows = math.ceil(len(units) / columns)
    named = len(units) <= NAMED_UNITS
    parts = []
    for number, unit in enumerate(units, start=1):
        r, c = divmod(number - 1, columns)
        x, y = MAP_PAD + c * side, MAP_PAD + r * side
        fill = unit.get("fill") or COLOURS[unit["level"]]
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{side - 4:.1f}" '
                     f'height="{side - 4:.1f}" fill="{fill}" '
                     f'stroke="#333333" stroke-width="1"/>')
        parts.append(_label(x + (side - 4) / 2, y + (side - 4) / 2,
                            unit["name"] if named else str(number), 13))
    width = 2 * MAP_PAD + columns * side
    height = 2 * MAP_PAD + rows * side
    return (f'<svg viewBox="0 0 {width:.0f} {height:.0f}" '
            f'class="map tiles" role="img">{"".join(parts)}</svg>')
