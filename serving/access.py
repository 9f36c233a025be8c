"""Who may see what: roles and area scopes of API keys over the area hierarchy."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import shapely

from riskgrid import vocabulary as C
from serving.store import ROLES

# What each role may call, cumulatively: an analyst may do what a viewer does, and more.
ENDPOINT_ROLE = {
    "score": "viewer", "explain": "viewer", "forecast": "viewer", "warnings": "viewer",
    "model_info": "viewer", "areas": "viewer", "periods": "viewer", "ledger_scores": "viewer",
    "data_quality": "viewer",
    "safety_index": "viewer",
    "score_features": "analyst",
    "warning_action": "analyst", "override": "analyst",
}


class AccessDenied(Exception):
    """The key may not see an area or call an endpoint (HTTP 403)."""


@dataclass(frozen=True)
class Hierarchy:
    """Every area id at every level with its level and its ancestors (itself included)."""

    level_of: dict[str, str]
    ancestors: dict[str, frozenset[str]]
    grids_under: dict[str, list[str]]

    def knows(self, unit_id: str) -> bool:
        return unit_id in self.ancestors

    def check(self, scope: str, unit_ids: list[str]) -> None:
        """Raise AccessDenied naming the first units outside ``scope``."""
        outside = [u for u in unit_ids if scope not in self.ancestors.get(u, ())]
        if outside:
            shown = ", ".join(outside[:5]) + (" ..." if len(outside) > 5 else "")
            raise AccessDenied(f"this key is scoped to {scope!r} and may not see {shown}; ask "
                               "for a key whose scope covers them")

    def units(self, level: str, parent_id: str) -> list[str]:
        """Units of ``level`` under ``parent_id`` (ids sorted)."""
        return sorted(u for u, lv in self.level_of.items()
                      if lv == level and parent_id in self.ancestors[u])


def hierarchy(areas: pd.DataFrame) -> Hierarchy:
    """The hierarchy of the clean areas table (one row per grid, parent ids in columns).

    Where a level is missing the ids collapse onto the level below (see features.areas), so an
    id may stand at several levels; it keeps the lowest one and its ancestors are the union.
    """
    levels = [lv for lv in ("grid", "community", "street", "district") if C.LEVEL_ID[lv] in
              areas.columns]
    level_of: dict[str, str] = {C.CITY: "city"}
    ancestors: dict[str, set[str]] = {C.CITY: {C.CITY}}
    grids_under: dict[str, set[str]] = {}
    for row in areas[[C.LEVEL_ID[lv] for lv in levels]].astype(str).to_numpy():
        chain = [*row, C.CITY]
        for i, unit in enumerate(chain):
            level_of.setdefault(unit, levels[i] if i < len(levels) else "city")
            ancestors.setdefault(unit, set()).update(chain[i:])
            grids_under.setdefault(unit, set()).add(row[0])
    return Hierarchy(level_of=level_of,
                     ancestors={k: frozenset(v) for k, v in ancestors.items()},
                     grids_under={k: sorted(set(v)) for k, v in grids_under.items()})


def require_role(role: str, endpoint: str) -> None:
    """Raise AccessDenied when ``role`` ranks below what ``endpoint`` needs."""
    needed = ENDPOINT_ROLE.get(endpoint, "admin")
    if ROLES.index(role) < ROLES.index(needed):
        raise AccessDenied(f"the {endpoint} endpoint needs the {needed} role; this key is "
                           f"{role}")


class Shapes:
    """Names, parents and GeoJSON shapes of every unit (units above grids: union of grids)."""

    def __init__(self, areas: pd.DataFrame, tree: Hierarchy):
        self.tree = tree
        self.names: dict[str, str] = {C.CITY: C.CITY}
        self.parents: dict[str, dict[str, str]] = {}
        for level in ("district", "street", "community", "grid"):
            id_col, name_col = C.LEVEL_ID[level], C.LEVEL_NAME[level]
            if id_col in areas:
                names = areas[name_col] if name_col in areas else areas[id_col]
                self.names.update(zip(areas[id_col].astype(str), names.astype(str),
                                      strict=True))
        for row in areas.itertuples(index=False):
            grid = str(getattr(row, C.AREA_ID))
            self.parents[grid] = {lv: str(getattr(row, C.LEVEL_ID[lv]))
                                  for lv in ("community", "street", "district")
                                  if hasattr(row, C.LEVEL_ID[lv])}
        wkt = areas[C.GEOMETRY] if C.GEOMETRY in areas else pd.Series(None, index=areas.index)
        self._grid_shapes = {str(a): shapely.from_wkt(g) for a, g in
                             zip(areas[C.AREA_ID], wkt, strict=True)
                             if isinstance(g, str) and g}
        self._cache: dict[str, dict | None] = {}

    def shape(self, unit: str) -> dict | None:
        if unit not in self._cache:
            grids = [self._grid_shapes[g] for g in self.tree.grids_under.get(unit, [])
                     if g in self._grid_shapes]
            geometry = shapely.union_all(grids) if grids else None
            self._cache[unit] = None if geometry is None else shapely.geometry.mapping(
                geometry.simplify(0, preserve_topology=True))
        return self._cache[unit]

    def describe(self, level: str, ids: list[str]) -> list[dict]:
        out = []
        for unit in ids:
            grid = self.tree.grids_under.get(unit, [unit])[0]
            above = self.parents.get(grid, {})
            start = ("grid", "community", "street", "district").index(level) + 1 \
                if level != "city" else 4
            parents = {lv: above[lv] for lv in ("community", "street", "district")[start - 1:]
                       if lv in above and above[lv] != unit}
            out.append({"area_id": unit, "name": self.names.get(unit, unit), "level": level,
                        "parents": parents, "geometry": self.shape(unit)})
        return out
