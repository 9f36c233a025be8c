"""Level overrides: a meeting sets an area's level for a period, with a reason code and a note.

Every override set or cleared is a new row of an append-only, hash-chained table (clearing is
never a delete), so the history of who set what, when and why stays whole. The reason codes
themselves are the experiment's ([warnings] override_reasons), checked by serving.overrides.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import Connection, insert, select

from riskgrid.errors import InputError
from serving.store import chain
from serving.store.connection import Database, bounded_text, check_choice, chunks, iso_date, now
from serving.store.schema import LEVELS, override_events

OVERRIDE_LEVELS = (*LEVELS, "none")
_WHO_CHARS, _NOTE_CHARS, _CODE_CHARS = 200, 2000, 32
_EVENT_COLUMNS = [c for c in override_events.columns if c.name not in ("prev_hash", "row_hash")]


class Overrides(Database):
    """The level overrides of the store and their history."""

    def set_override(self, experiment: str, area_id: str, period: date | str, level: str,
                     reason_code: str, note: str, who: str, model_level: str | None = None,
                     model_version: str | None = None) -> dict:
        """Set ``area_id``'s level for ``period`` (replacing an override already set there).

        Args:
            level: red, orange, yellow, blue or none (no warning level at all).
            reason_code: one of the experiment's override reasons (checked by the caller).
            note: what the meeting knows; required, no personal data.
            who: the person setting it, recorded with it.
            model_level, model_version: the model's own level then, when known.

        Returns:
            The new row: event_id, experiment, area_id, period, action, level, ..., who, at.
        """
        where = f"override of {area_id}"
        check_choice("level", level, OVERRIDE_LEVELS, where)
        code = bounded_text("reason code", reason_code, _CODE_CHARS)
        if not code:
            raise InputError(f"The {where} needs a reason code; riskgrid overrides reasons "
                             "lists them.")
        event = self._event(experiment, area_id, period, "set", who, note)
        event.update(level=level, reason_code=code, model_level=model_level,
                     model_version=model_version)
        with self._writing() as conn:
            return self._append(conn, event)

    def clear_override(self, experiment: str, area_id: str, period: date | str, who: str,
                       note: str) -> dict:
        """Clear the override of ``area_id`` for ``period``: the model's level stands again.
        The override stays in the history; clearing is a new row."""
        event = self._event(experiment, area_id, period, "clear", who, note)
        with self._writing() as conn:
            chain.lock(conn, override_events)
            if not self._active(conn, experiment, [area_id], [event["period"]]):
                raise InputError(f"{area_id} has no override for the period {event['period']} "
                                 "to clear; riskgrid overrides list shows the overrides.")
            return self._append(conn, event, locked=True)

    def overrides(self, experiment: str, area_ids: Iterable[str] | None = None,
                  periods: Iterable[date | str] | None = None) -> list[dict]:
        """The overrides in force (the latest row of each area and period is a set), by
        period then area."""
        days = None if periods is None else [iso_date(p, "period") for p in periods]
        with self._reading() as conn:
            return self._active(conn, experiment, area_ids, days)

    def override_history(self, experiment: str, area_id: str | None = None,
                         period: date | str | None = None) -> list[dict]:
        """Every override set or cleared (of one area and period, when given), oldest first."""
        table = override_events.c
        where = [table.experiment == experiment]
        if area_id is not None:
            where.append(table.area_id == area_id)
        if period is not None:
            where.append(table.period == iso_date(period, "period"))
        query = select(*_EVENT_COLUMNS).where(*where).order_by(table.event_id)
        with self._reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def _event(self, experiment: str, area_id: str, period: date | str, action: str, who: str,
               note: str) -> dict:
        who = bounded_text("who", who, _WHO_CHARS)
        if not who:
            raise InputError(f"Say who {action}s the override of {area_id} (who is empty); "
                             "every override is recorded with a name.")
        note = bounded_text("note", note, _NOTE_CHARS)
        if not note:
            raise InputError(f"Say why in the note: every override of {area_id} is kept with "
                             "its reason and note.")
        return {"experiment": str(experiment), "area_id": str(area_id),
                "period": iso_date(period, "period"), "action": action, "level": None,
                "model_level": None, "model_version": None, "reason_code": None, "note": note,
                "who": who, "at": now()}

    def _append(self, conn: Connection, event: dict, locked: bool = False) -> dict:
        if not locked:
            chain.lock(conn, override_events)
        previous, _ = chain.head(conn, override_events)
        row = chain.link(override_events, [event], previous)[0]
        found = conn.execute(insert(override_events).values(**row)
                             .returning(override_events.c.event_id)).scalar_one()
        return {**{k: v for k, v in row.items() if k not in ("prev_hash", "row_hash")},
                "event_id": int(found)}

    def _active(self, conn: Connection, experiment: str, area_ids: Iterable[str] | None,
                periods: list[str] | None) -> list[dict]:
        table = override_events.c
        latest: dict[tuple[str, str], dict] = {}
        for chunk in chunks(area_ids):
            where = [table.experiment == experiment]
            if chunk is not None:
                where.append(table.area_id.in_(chunk))
            if periods is not None:
                where.append(table.period.in_(periods))
            for row in conn.execute(select(*_EVENT_COLUMNS).where(*where)
                                    .order_by(table.event_id)):
                latest[(row.area_id, row.period)] = dict(row._mapping)
        return sorted((r for r in latest.values() if r["action"] == "set"),
                      key=lambda r: (r["period"], r["area_id"]))
