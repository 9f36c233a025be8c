"""The audit log: one row per request, append-only (docs/stores.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import insert, select

from serving.store.connection import Database, now
from serving.store.schema import audit_log


class Audit(Database):
    """The audit log of the store."""

    def audit(self, key_id: str | None, endpoint: str, areas: Sequence[str],
              model_version: str | None, status: int, detail: str | None = None) -> None:
        """Append one row to the audit log (one per request)."""
        row = {"at": now(), "key_id": key_id, "endpoint": endpoint,
               "areas": json.dumps(list(areas), ensure_ascii=False),
               "model_version": model_version, "status": int(status),
               "detail": None if detail is None else detail[:500]}
        with self._writing() as conn:
            conn.execute(insert(audit_log).values(**row))

    def audit_rows(self, limit: int | None = None) -> pd.DataFrame:
        """The audit log oldest first (the last `limit` rows if given), areas decoded to lists."""
        query = select(audit_log).order_by(audit_log.c.id.desc() if limit else audit_log.c.id)
        if limit:
            query = query.limit(limit)
        with self._reading() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        rows.sort(key=lambda row: row["id"])
        for row in rows:
            row["areas"] = json.loads(row["areas"])
        frame = pd.DataFrame(rows, columns=[c.name for c in audit_log.columns])
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame.astype({"id": "int64", "status": "int64"})
