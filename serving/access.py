"""Who may see what: roles and area scopes of API keys over the area hierarchy."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features import columns as C

CITY = "city"  # the root of every hierarchy: a key scoped to it sees everything

# What each role may call, cumulatively: an analyst may do what a viewer does, and more.
ROLES = ("viewer", "analyst", "admin")
ENDPOINT_ROLE = {
    "score": "viewer", "explain": "viewer", "forecast": "viewer", "warnings": "viewer",
    "model_info": "viewer", "score_features": "analyst",
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
    level_of: dict[str, str] = {CITY: "city"}
    ancestors: dict[str, set[str]] = {CITY: {CITY}}
    grids_under: dict[str, set[str]] = {}
    for row in areas[[C.LEVEL_ID[lv] for lv in levels]].astype(str).to_numpy():
        chain = [*row, CITY]
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
