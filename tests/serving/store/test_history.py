"""History that cannot be rewritten unseen, on SQLite and a real PostgreSQL: the hash chains
name the first changed, removed or forged row; REPLACE is refused; dropped guards are found;
and the service's PostgreSQL role may append to history but never change or drop it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.pool import NullPool

from serving.store import Store, open_store
from tests.serving.test_store import pg_database, raw, store, store_url, warning  # noqa: F401

REPLACE = {
    "audit_log": "INSERT OR REPLACE INTO audit_log (id, at, endpoint, areas, status) "
                 "VALUES (1, '2020-01-01 00:00:00', 'score', '[]', 200)",
    "forecast_vintages": "INSERT OR REPLACE INTO forecast_vintages (vintage_id, source, "
                         "experiment, as_of, model_version, fingerprint, issued_at, forecasts) "
                         "SELECT vintage_id, 'api', 'x', '2020-01-01', 'v9', 'f', "
                         "'2020-01-01 00:00:00', 0 FROM forecast_vintages LIMIT 1",
    "forecasts": "INSERT OR REPLACE INTO forecasts SELECT vintage_id, area_id, horizon, "
                 "target_period, 99.0, 0, 100, 0.9, 'red' FROM forecasts LIMIT 1",
    "warning_events": "INSERT OR REPLACE INTO warning_events (event_id, warning_id, action, "
                      "from_status, to_status, who, at) SELECT event_id, warning_id, 'ack', "
                      "'issued', 'closed', 'x', at FROM warning_events LIMIT 1",
    "override_events": "INSERT OR REPLACE INTO override_events (event_id, experiment, area_id, "
                       "period, action, level, who, at) SELECT event_id, experiment, area_id, "
                       "period, 'set', 'red', 'x', at FROM override_events LIMIT 1",
}


def history(store: Store) -> None:
    """A few rows in every chained table."""
    record, _ = store.create_key("analyst", "city")
    for status in (200, 403, 200, 422):
        store.audit(record.key_id, "score", ["G1", "社区7"], "v1", status, detail="why")
    rows = [{"area_id": area, "horizon": h, "target_period": "2024-03-11",
             "expected_count": 1.25, "low": 0.0, "high": 4.0, "risk_probability": 0.3,
             "risk_level": "yellow"} for area in ("G1", "G2") for h in (1, 2)]
    meta = {"source": "api", "experiment": "tiny", "as_of": "2024-03-04",
            "model_version": "v1", "fingerprint": "abc"}
    store.save_vintages([(meta, rows), (meta | {"model_version": "v2"}, rows)])
    store.save_vintages([(meta | {"as_of": "2024-03-11"}, rows)])
    store.save_warnings([warning("G1")])
    (found,) = store.query_warnings()
    store.warning_action(found["warning_id"], "ack", "officer Wang")
    store.warning_action(found["warning_id"], "handle", "officer Wang", note="visited")
    store.set_override("tiny", "G1", "2024-03-11", "red", "new_dispute", "a quarrel", "Li")
    store.set_override("tiny", "G2", "2024-03-11", "none", "dispute_settled", "settled", "Li")
    store.clear_override("tiny", "G1", "2024-03-11", "Zhao", "the meeting changed its mind")


def unguarded(raw: Engine, statement: str, table: str) -> None:
    """Run ``statement`` as the tables' owner with the append-only guards of ``table`` off:
    what someone with full control of the database can do."""
    with raw.begin() as conn:
        if raw.dialect.name == "sqlite":
            for what in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{what}"))
        else:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
        conn.execute(text(statement))
        if raw.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))


def broken(store: Store) -> list[str]:
    return [c.broken for c in store.verify_history().chains if c.broken]


def test_an_untouched_history_verifies(store: Store):
    history(store)
    report = store.verify_history()
    assert report.intact, report
    assert [c.rows for c in report.chains] == [4, 3, 2, 3]
    heads = {c.table: c.head for c in report.chains}
    store.audit(None, "score", [], None, 401)  # the chain grows; the old head stays in it
    later = store.verify_history(frozenset({heads["audit_log"]}))
    assert later.intact and later.lost_anchors == []


@pytest.mark.parametrize(("table", "statement", "named"), [
    ("audit_log", "UPDATE audit_log SET status = 200 WHERE id = 2",
     "audit_log row id 2 was changed"),
    ("audit_log", "DELETE FROM audit_log WHERE id = 3",
     "audit_log row id 4 does not follow the row before it"),
    ("forecasts", "UPDATE forecasts SET expected_count = 9 WHERE area_id = 'G2' AND horizon = 2",
     "forecast_vintages vintage"),
    ("forecast_vintages", "UPDATE forecast_vintages SET model_version = 'v7' WHERE seq = 2",
     "(seq 2) was changed"),
    ("warning_events", "UPDATE warning_events SET who = 'someone else'",
     "warning_events row event_id 1 was changed"),
    ("override_events", "UPDATE override_events SET level = 'blue' WHERE event_id = 1",
     "override_events row event_id 1 was changed"),
    ("override_events", "DELETE FROM override_events WHERE event_id = 1",
     "override_events row event_id 2 does not follow the row before it"),
])
def test_a_rewritten_row_is_named_as_the_first_broken_link(store: Store, raw: Engine, table,
                                                           statement, named):
    history(store)
    unguarded(raw, statement, table)
    assert len(broken(store)) == 1 and named in broken(store)[0]


def test_a_row_forged_without_riskgrid_is_found(store: Store, raw: Engine):
    history(store)
    with raw.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (at, endpoint, areas, status) "
                          "VALUES ('2030-01-01 00:00:00', 'score', '[]', 200)"))
    assert "audit_log row id 5 has no hash" in broken(store)[0]


def test_a_rebuilt_chain_loses_the_head_noted_earlier(store: Store, raw: Engine):
    history(store)
    noted = store.verify_history().chains[0].head
    unguarded(raw, "DELETE FROM audit_log", "audit_log")
    store.audit(None, "score", [], None, 200)  # a fresh, internally consistent chain
    report = store.verify_history(frozenset({noted}))
    assert not broken(store) and report.lost_anchors == [noted] and not report.intact


@pytest.mark.parametrize("table", sorted(REPLACE))
def test_sqlite_refuses_insert_or_replace_of_an_existing_row(store: Store, raw: Engine,
                                                             table: str):
    if raw.dialect.name != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's; PostgreSQL's upsert is an UPDATE")
    history(store)
    with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
        conn.execute(text(REPLACE[table]))
    assert store.verify_history().intact


def test_a_dropped_guard_is_reported(store: Store, raw: Engine):
    history(store)
    with raw.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_delete" if raw.dialect.name == "sqlite"
                          else "DROP TRIGGER audit_log_append_only ON audit_log"))
    report = store.verify_history()
    assert not report.intact and len(report.missing_guards) == 1
    assert report.missing_guards[0].startswith("audit_log_")


@pytest.fixture
def service_role(store_url: str) -> Iterator[tuple[str, str]]:
    """A login role on the real PostgreSQL and the store's URL as that role."""
    if not store_url.startswith("postgresql"):
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"riskgrid_service_{secrets.token_hex(3)}"
    owner = create_engine(store_url, poolclass=NullPool)
    with owner.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
    yield role, make_url(store_url).set(username=role).render_as_string(hide_password=False)
    with owner.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    owner.dispose()


@pytest.mark.postgres
def test_the_service_role_appends_but_cannot_change_or_drop_history(store: Store,
                                                                    service_role):
    history(store)
    role, url = service_role
    assert any("GRANT SELECT, INSERT ON" in s for s in store.grant_service_role(role))
    service = open_store(url)  # the schema is at head: opening needs no DDL
    try:
        record, token = service.create_key("viewer", "S1")
        service.audit(record.key_id, "score", ["G1"], "v1", 200)
        (found,) = service.query_warnings()
        service.warning_action(found["warning_id"], "close", "officer Li")
        service.save_vintages([({"source": "batch", "experiment": "tiny", "as_of": "2024-03-18",
                                 "model_version": "v1", "fingerprint": "abc"}, [])])
        assert service.revoke_key(record.key_id)
        assert service.verify_history().intact
    finally:
        service.close()
    engine = create_engine(url, poolclass=NullPool)
    try:
        for table in ("audit_log", "forecast_vintages", "forecasts", "warning_events"):
            for statement in (f"UPDATE {table} SET {table_key(table)} = NULL",
                              f"DELETE FROM {table}", f"TRUNCATE {table}",
                              f"DROP TABLE {table} CASCADE",
                              f"ALTER TABLE {table} DISABLE TRIGGER ALL"):
                with pytest.raises(ProgrammingError, match="permission denied|must be owner"), \
                        engine.begin() as conn:
                    conn.execute(text(statement))
    finally:
        engine.dispose()


def table_key(table: str) -> str:
    return {"audit_log": "detail", "forecast_vintages": "fingerprint", "forecasts": "low",
            "warning_events": "note"}[table]
