"""The meeting pack's safety-index section: the units ranked by their index, and its map."""

from __future__ import annotations

import pandas as pd

from serving import SafetyIndex, Scorer

# Bands of the map, lowest first: (upper bound, colour); the index is 0-100, 100 the safest.
BANDS = ((40.0, "#b3261e"), (50.0, "#f39800"), (60.0, "#ffd400"), (70.0, "#9ccc65"),
         (100.01, "#1b7f3b"))
WEAKEST = 2  # components named as what pulls a unit's index down


def band(value: float | None) -> int | None:
    """The map band of an index value (0 = the least safe), None without a value."""
    if value is None:
        return None
    return next(i for i, (upper, _) in enumerate(BANDS) if value < upper)


def safety_section(index: SafetyIndex, scorer: Scorer, as_of: pd.Timestamp,
                   since: pd.Timestamp | None, level: str) -> dict:
    """Every unit of ``level`` ranked by its index (the safest first), with its change since
    the last meeting, against the previous period and a year before, next period's forecast
    and its weakest components; the city's own index; the bands the map colours."""
    units = index.level(level).units
    answer = index.answer(scorer, [*units, "city"], as_of)
    found = {r["area_id"]: r for r in answer["index"]}
    earlier = ({} if since is None else
               index.table(level, since).set_index("area_id")["value"].to_dict())
    rows = []
    for unit in units:
        r = found[unit]
        then = earlier.get(unit)
        rows.append({"unit_id": unit, "value": r["value"], "rank": r["rank"],
                     "since": None if r["value"] is None or then is None or pd.isna(then)
                     else r["value"] - float(then),
                     "change": r["change"], "change_year": r["change_year"],
                     "forecast": r["forecast"], "band": band(r["value"]),
                     "weakest": _weakest(r["components"])})
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["unit_id"]))
    city = found["city"]
    return {"level": level, "window": answer["window"], "left_out": answer["left_out"],
            "rows": rows, "city": {k: city[k] for k in ("value", "change", "change_year",
                                                        "forecast")},
            "components": [{k: c[k] for k in ("name", "label_en", "label_zh", "weight",
                                              "figure", "typical", "value")}
                           for c in city["components"]],
            "bands": [{"upper": upper, "colour": colour} for upper, colour in BANDS]}


def _weakest(components: list[dict]) -> list[dict]:
    """The components with the lowest scores (those that pull the index down most)."""
    scored = [c for c in components if c["value"] is not None and c["weight"] > 0]
    scored.sort(key=lambda c: (c["value"], c["name"]))
    return [{"name": c["name"], "label_en": c["label_en"], "label_zh": c["label_zh"],
             "figure": c["figure"], "typical": c["typical"]} for c in scored[:WEAKEST]]


def map_units(section: dict, places: dict[str, str]) -> list[dict]:
    """The units as :func:`reporting.charts.map_svg` draws them, filled by band."""
    return [{"unit_id": r["unit_id"], "name": places.get(r["unit_id"], r["unit_id"]),
             "level": "none",
             "fill": "#e4e4e4" if r["band"] is None else BANDS[r["band"]][1]}
            for r in section["rows"]]
