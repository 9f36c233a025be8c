"""The audit log: one row per request, append-only (docs/stores.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from serving.store import chain
from serving.store.connection import Database, now
from serving.store.schema import audit_log

if TYPE_CHECKING:  # pandas loads where a table is returned, not with the store
    import pandas as pd

# What one row keeps at most, whatever a request carried: a row stays under ~100 kB.
MAX_AREAS, AREA_CHARS, TEXT_CHARS, DETAIL_CHARS = 1000, 100, 200, 500


def bounded_areas(areas: Sequence[str]) -> list[str]:
    """The areas as the audit log keeps them: the first MAX_AREAS ids, each cut to AREA_CHARS,
    and then one entry saying how many more there were."""
    kept = [str(a)[:AREA_CHARS] for a in list(areas)[:MAX_AREAS]]
    if len(areas) > MAX_AREAS:
        kept.append(f"... and {len(areas) - MAX_AREAS:,} more")
    return kept


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


class Audit(Database):
    """The audit log of the store."""

    def audit(self, key_id: str | None, endpoint: str, areas: Sequence[str],
              model_version: str | None, status: int, detail: str | None = None) -> None:
        """Append one row to the audit log (one per request), chained to the row before it."""
        self.audit_many([(key_id, endpoint, areas, model_version, status, detail)])

    def audit_many(self, rows: Sequence[tuple]) -> None:
        """Append rows of (key_id, endpoint, areas, model_version, status, detail) in order, in
        one transaction: a group commit, all or none, chained like single rows."""
        if not rows:
            return
        at = now()
        records = [{"at": at, "key_id": _cut(key_id, TEXT_CHARS),
                    "endpoint": _cut(endpoint, TEXT_CHARS),
                    "areas": json.dumps(bounded_areas(areas), ensure_ascii=False),
                    "model_version": _cut(model_version, TEXT_CHARS), "status": int(status),
                    "detail": _cut(detail, DETAIL_CHARS)}
                   for key_id, endpoint, areas, model_version, status, detail in rows]
        with self._writing() as conn:
            chain.lock(conn, audit_log)
            previous, _ = chain.head(conn, audit_log)
            for record in chain.link(audit_log, records, previous):  # in order: ids follow
                conn.execute(insert(audit_log).values(**record))

    def audit_rows(self, limit: int | None = None) -> pd.DataFrame:
        """The audit log oldest first (the last `limit` rows if given), areas decoded to lists."""
        import pandas as pd

        query = select(audit_log).order_by(audit_log.c.id.desc() if limit else audit_log.c.id)
        if limit:
            query = query.limit(limit)
        with self._reading() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        rows.sort(key=lambda row: row["id"])
        for row in rows:
            row["areas"] = json.loads(row["areas"])
        frame = pd.DataFrame(rows, columns=[c.name for c in audit_log.columns
                                            if c.name not in ("prev_hash", "row_hash")])
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame.astype({"id": "int64", "status": "int64"})
