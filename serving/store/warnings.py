"""Warnings and their lifecycle: issued once, then acknowledged, handled, closed or dismissed,
each step recorded with who and when."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from riskgrid.errors import InputError
from serving.store import chain
from serving.store.connection import (
    Database,
    bounded_text,
    check_choice,
    chunks,
    iso_date,
    json_default,
    now,
    to_frame,
)
from serving.store.schema import (
    ISSUED,
    KINDS,
    LEVELS,
    REASON_CODES,
    STATUSES,
    warning_events,
    warnings_table,
)

if TYPE_CHECKING:  # pandas loads where a table is returned, not with the store
    import pandas as pd

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "ack": ((ISSUED,), "acknowledged"),
    "handle": (("acknowledged",), "handled"),
    "close": (("handled",), "closed"),
    "dismiss": ((ISSUED, "acknowledged", "handled"), "dismissed"),
}
ACTIONS = tuple(TRANSITIONS)
_DONE = {"ack": "acknowledged", "handle": "handled", "close": "closed", "dismiss": "dismissed"}
_WHO_CHARS, _NOTE_CHARS = 200, 2000
_EVENT_COLUMNS = [c for c in warning_events.columns if c.name not in ("prev_hash", "row_hash")]


class Warnings(Database):
    """The warnings of the store and their lifecycle."""

    def save_warnings(self, rows: list[dict]) -> int:
        """Store new warnings, skipping ones already issued (same warning_id).

        Returns:
            How many of the rows were new.
        """
        issued_at = now()
        records = {}
        for number, row in enumerate(rows, start=1):
            record = _warning_record(row, number, issued_at)
            records.setdefault(record["warning_id"], record)
        if not records:
            return 0
        statement = (self._insert(warnings_table)
                     .on_conflict_do_nothing(index_elements=["warning_id"])
                     .returning(warnings_table.c.warning_id))
        with self._writing() as conn:
            return len(conn.execute(statement, list(records.values())).all())

    def query_warnings(self, area_ids: Iterable[str] | None = None, level: str | None = None,
                       kind: str | None = None, period: date | str | None = None,
                       as_of: date | str | None = None,
                       status: str | None = None) -> list[dict]:
        """Warnings matching every filter given, evidence decoded to a dict."""
        check_choice("level", level, LEVELS, "filter")
        check_choice("kind", kind, KINDS, "filter")
        check_choice("status", status, STATUSES, "filter")
        area_in = warnings_table.c.area_id.in_
        filters = [warnings_table.c.status == status] if status is not None else []
        if level is not None:
            filters.append(warnings_table.c.level == level)
        if kind is not None:
            filters.append(warnings_table.c.kind == kind)
        if period is not None:
            filters.append(warnings_table.c.period == iso_date(period, "period filter"))
        if as_of is not None:
            filters.append(warnings_table.c.as_of == iso_date(as_of, "as_of filter"))
        found = []
        with self._reading() as conn:
            for chunk in chunks(area_ids):
                where = filters if chunk is None else [*filters, area_in(chunk)]
                found += [dict(row._mapping) for row in conn.execute(
                    select(warnings_table).where(*where))]
        for row in found:
            row["evidence"] = json.loads(row["evidence"])
        return sorted(found, key=lambda r: (r["as_of"], r["period"], r["area_id"], r["kind"],
                                            r["horizon"], r["warning_id"]))

    def warning(self, warning_id: str) -> dict:
        """One warning, evidence decoded; InputError if there is none with this id."""
        with self._reading() as conn:
            row = conn.execute(select(warnings_table).where(
                warnings_table.c.warning_id == warning_id)).one_or_none()
        if row is None:
            raise InputError(f"No warning has id {warning_id!r}; riskgrid warnings list shows "
                             "the warnings and their ids.")
        found = dict(row._mapping)
        found["evidence"] = json.loads(found["evidence"])
        return found

    def warning_action(self, warning_id: str, action: str, who: str, reason: str | None = None,
                       note: str | None = None) -> dict:
        """Move a warning one step through its lifecycle and record who did it and when.

        Args:
            action: ack (issued -> acknowledged), handle (acknowledged -> handled), close
                (handled -> closed) or dismiss (from issued, acknowledged or handled).
            who: the person acting, recorded with the step.
            reason: a code from REASON_CODES; required to dismiss, refused otherwise.
            note: free text for the record (no personal data).

        Returns:
            The updated warning.
        """
        starts, to_status = _check_action(warning_id, action, reason)
        who = bounded_text("who", who, _WHO_CHARS)
        if not who:
            raise InputError(f"Say who is acting on warning {warning_id} (who is empty); "
                             "every step is recorded with a name.")
        note = bounded_text("note", note, _NOTE_CHARS) or None
        status = warnings_table.c.status
        is_this = warnings_table.c.warning_id == warning_id
        with self._writing() as conn:
            chain.lock(conn, warning_events)
            row = conn.execute(select(status).where(is_this)).one_or_none()
            if row is None:
                raise InputError(f"No warning has id {warning_id!r}; riskgrid warnings list "
                                 "shows the warnings and their ids.")
            current = row.status
            if current not in starts:
                raise InputError(_refusal(warning_id, current, action))
            changed = conn.execute(update(warnings_table).where(is_this, status == current)
                                   .values(status=to_status)).rowcount
            if changed != 1:  # someone else moved it between our read and our write
                raise InputError(f"Warning {warning_id} changed while you acted on it; look "
                                 "at its history and try again.")
            event = {"warning_id": warning_id, "action": action, "from_status": current,
                     "to_status": to_status, "who": who, "at": now(), "reason_code": reason,
                     "note": note}
            previous, _ = chain.head(conn, warning_events)
            conn.execute(insert(warning_events).values(
                **chain.link(warning_events, [event], previous)[0]))
        return self.warning(warning_id)

    def warning_history(self, warning_id: str) -> list[dict]:
        """Every lifecycle step of a warning, oldest first (the issue itself is its issued_at)."""
        self.warning(warning_id)  # an unknown id is an error, not an empty history
        query = (select(*_EVENT_COLUMNS).where(warning_events.c.warning_id == warning_id)
                 .order_by(warning_events.c.event_id))
        with self._reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def lifecycle_events(self, warning_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Lifecycle steps of many warnings (all when None), oldest first."""
        import pandas as pd

        parts = []
        with self._reading() as conn:
            for chunk in chunks(warning_ids):
                where = [] if chunk is None else [warning_events.c.warning_id.in_(chunk)]
                parts.append(to_frame(conn.execute(select(*_EVENT_COLUMNS).where(*where)),
                                    [c.name for c in _EVENT_COLUMNS]))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return frame.sort_values("event_id", ignore_index=True)


def _warning_record(row: Mapping[str, Any], number: int, issued_at: datetime) -> dict:
    required = ("area_id", "level", "kind", "period", "as_of", "horizon", "model_version",
                "score", "evidence", "response_en", "response_zh")
    missing = [name for name in required if row.get(name) is None]
    if missing:
        raise InputError(f"Warning row {number} lacks {', '.join(missing)}; give every field.")
    check_choice("level", row["level"], LEVELS, f"warning row {number}")
    check_choice("kind", row["kind"], KINDS, f"warning row {number}")
    record = {
        "area_id": str(row["area_id"]), "level": row["level"], "kind": row["kind"],
        "rule": row.get("rule"),
        "period": iso_date(row["period"], f"warning row {number} period"),
        "as_of": iso_date(row["as_of"], f"warning row {number} as_of"),
        "horizon": int(row["horizon"]), "model_version": str(row["model_version"]),
        "score": float(row["score"]),
        "evidence": json.dumps(row["evidence"], ensure_ascii=False, sort_keys=True,
                               default=json_default),
        "response_en": row["response_en"], "response_zh": row["response_zh"],
        "status": row.get("status") or ISSUED, "issued_at": row.get("issued_at") or issued_at,
    }
    record["warning_id"] = row.get("warning_id") or _warning_id(record)
    return record


def _warning_id(record: Mapping[str, Any]) -> str:
    """Deterministic, so re-issuing the same warning for the same model is a no-op."""
    key = "|".join(str(record[name]) for name in
                   ("area_id", "kind", "period", "horizon", "model_version"))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _check_action(warning_id: str, action: str, reason: str | None
                  ) -> tuple[tuple[str, ...], str]:
    if action not in TRANSITIONS:
        raise InputError(f"Action {action!r} on warning {warning_id} is unknown; use one of "
                         f"{', '.join(ACTIONS)}.")
    if action == "dismiss":
        if not reason:
            raise InputError(f"Dismissing warning {warning_id} needs a reason code: one of "
                             f"{', '.join(REASON_CODES)}.")
        check_choice("reason code", reason, REASON_CODES, f"dismissal of warning {warning_id}")
    elif reason is not None:
        raise InputError(f"A reason code is only given to dismiss; to {action} warning "
                         f"{warning_id}, say why in the note instead.")
    return TRANSITIONS[action]


def _refusal(warning_id: str, status: str, action: str) -> str:
    allowed = [a for a, (starts, _) in TRANSITIONS.items() if status in starts]
    then = (f"from {status} it can only be {' or '.join(_DONE[a] for a in allowed)}" if allowed
            else f"{status} is final")
    return f"Warning {warning_id} is {status}, so it cannot be {_DONE[action]}: {then}."
