"""The audit log keeps a bounded row per request, whatever the request carried."""

from __future__ import annotations

from sqlalchemy import Engine, text

from serving.store import Store
from serving.store.audit import AREA_CHARS, MAX_AREAS
from tests.serving.test_store import pg_database, raw, store, store_url  # noqa: F401


def test_a_huge_request_leaves_a_small_audit_row(store: Store, raw: Engine):
    store.audit("k1", "explain", ["A" * 20_000_000], "v1", 400, detail="x" * 10_000)
    store.audit("k1", "score", [f"G{i}" for i in range(100_000)], "v1", 413)
    store.audit("k1", "e" * 5_000, [], "v" * 5_000, 404)
    with raw.connect() as conn:
        sizes = conn.execute(text(
            "SELECT length(areas), length(detail), length(endpoint), length(model_version) "
            "FROM audit_log ORDER BY id")).all()
    assert all(size is None or size < 200_000 for row in sizes for size in row)
    rows = store.audit_rows()
    assert rows["areas"][0] == ["A" * AREA_CHARS]
    assert len(rows["areas"][1]) == MAX_AREAS + 1
    assert rows["areas"][1][:3] == ["G0", "G1", "G2"]
    assert rows["areas"][1][-1] == f"... and {100_000 - MAX_AREAS:,} more"
    assert len(rows["detail"][0]) == 500
    assert store.verify_history().intact
