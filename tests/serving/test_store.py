"""The service store on SQLite and PostgreSQL: API keys, the append-only audit log, warnings."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from riskgrid.errors import InputError
from serving.store import KeyRecord, Store, open_store
from serving.store import keys as store_module
from tests.postgres import fresh_database


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of its own for this test session on a real PostgreSQL (the machine's, or a
    private cluster when it has none: tests/postgres.py), dropped at the end."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite",
                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty store location: a SQLite file, or a new schema in the session database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'riskgrid.db'}"
    database = request.getfixturevalue("pg_database")
    schema = f"test_{secrets.token_hex(4)}"
    engine = create_engine(database, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(database).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def raw(store: Store, store_url: str) -> Iterator[Engine]:
    """A plain connection to the same database, bypassing the Store."""
    engine = create_engine(store_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def warning(area_id: str = "G1", **overrides) -> dict:
    row = {"area_id": area_id, "level": "red", "kind": "sudden_group", "period": "2024-03-11",
           "as_of": "2024-03-04", "horizon": 1, "model_version": "v1", "score": 0.91,
           "evidence": {"collective_petitions": 3, "说明": "集体访增加"},
           "response_en": "Send the street's mediation team.", "response_zh": "街道调解队介入。"}
    return row | overrides


# --- API keys -------------------------------------------------------------------------------
def test_a_created_token_verifies_as_its_key(store: Store):
    record, token = store.create_key("analyst", "S1", label="Gulou command centre")
    assert token.startswith(f"rg_{record.key_id}_")
    assert store.verify_key(token) == record
    assert (record.role, record.scope, record.label) == ("analyst", "S1", "Gulou command centre")
    assert record.created_at.tzinfo is not None
    assert abs(datetime.now(UTC) - record.created_at) < timedelta(minutes=1)
    assert record.revoked_at is None


def test_wrong_secret_tampered_id_or_malformed_token_is_refused(store: Store):
    first, token = store.create_key("admin", "city")
    second, other = store.create_key("viewer", "G1")
    wrong_secret = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    tampered_id = other.replace(second.key_id, first.key_id)  # someone else's secret
    unknown_id = f"rg_00000000_{token.split('_', 2)[2]}"
    for bad in [wrong_secret, tampered_id, unknown_id, "", "rg_", token[:12], f"Bearer {token}",
                token + " ", "rg_ZZZZZZZZ_" + "x" * 43]:
        assert store.verify_key(bad) is None, bad
    assert store.verify_key(token) == first  # failed attempts do not lock out the real key


def test_revoke_takes_effect_at_once_even_after_a_cached_verify(store: Store):
    record, token = store.create_key("analyst", "D1")
    assert store.verify_key(token) == record
    assert store.revoke_key(record.key_id) is True
    assert store.verify_key(token) is None
    assert store.revoke_key(record.key_id) is False  # already revoked
    assert store.revoke_key("deadbeef") is False  # no such key


def test_a_revoke_from_another_process_lands_within_seconds(store: Store, store_url: str,
                                                           monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(store_module, "_clock", lambda: now[0])
    record, token = store.create_key("viewer", "C0")
    assert store.verify_key(token) == record
    cli = open_store(store_url)
    try:
        assert cli.revoke_key(record.key_id) is True
    finally:
        cli.close()
    now[0] += store_module._CACHE_SECONDS + 0.1
    assert store.verify_key(token) is None


def test_only_the_hash_of_the_token_is_stored(store: Store, raw: Engine):
    _, token = store.create_key("admin", "city", label="ops")
    with raw.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(text("SELECT * FROM api_keys"))]
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(token.encode()).hexdigest()
    secret = token.split("_", 2)[2]
    assert not any(secret in str(value) for value in rows[0].values())


def test_unknown_role_or_empty_scope_is_an_input_error(store: Store):
    with pytest.raises(InputError, match="'superuser'.*viewer, analyst, admin"):
        store.create_key("superuser", "city")
    with pytest.raises(InputError, match="Scope"):
        store.create_key("viewer", " ")
    assert store.list_keys() == []


def test_list_keys_shows_every_key_but_no_secret(store: Store):
    kept, _ = store.create_key("viewer", "G1", label="grid officer tablet")
    gone, _ = store.create_key("analyst", "S1")
    store.revoke_key(gone.key_id)
    listed = {record.key_id: record for record in store.list_keys()}
    assert set(listed) == {kept.key_id, gone.key_id}
    assert listed[kept.key_id] == kept
    assert listed[gone.key_id].revoked_at is not None
    assert listed[gone.key_id].revoked_at.utcoffset() == timedelta(0)
    assert all(isinstance(record, KeyRecord) and not hasattr(record, "key_hash")
               for record in listed.values())


# --- audit log ------------------------------------------------------------------------------
def test_audit_rows_keep_order_and_content(store: Store):
    store.audit("abcd1234", "/predict", ["G1", "社区7"], "v3", 200)
    store.audit(None, "/predict", [], None, 401, detail="missing API key")
    store.audit("abcd1234", "/explain", ["S1"], "v3", 403, detail="area S1 outside scope G1")
    rows = store.audit_rows()
    assert rows["endpoint"].tolist() == ["/predict", "/predict", "/explain"]
    assert rows["status"].tolist() == [200, 401, 403]
    assert rows["areas"].tolist() == [["G1", "社区7"], [], ["S1"]]
    assert rows["key_id"].isna().tolist() == [False, True, False]
    assert rows.loc[1, "detail"] == "missing API key"
    assert rows["id"].is_monotonic_increasing and rows["at"].is_monotonic_increasing
    assert str(rows["at"].dt.tz) == "UTC"
    assert store.audit_rows(limit=2)["status"].tolist() == [401, 403]


def test_audit_rows_cannot_be_updated_or_deleted(store: Store, raw: Engine):
    store.audit("abcd1234", "/predict", ["G1"], "v1", 200)
    attempts = ["UPDATE audit_log SET status = 500", "DELETE FROM audit_log"]
    if raw.dialect.name == "postgresql":
        attempts.append("TRUNCATE audit_log")
    for statement in attempts:
        with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(text(statement))
    rows = store.audit_rows()
    assert rows["status"].tolist() == [200]


def test_concurrent_writers_all_land(store: Store, store_url: str):
    second = open_store(store_url)  # as if a second server process shared the database

    def write(target: Store, thread: int) -> None:
        for i in range(50):
            target.audit(f"t{thread}", "/predict", [f"G{i}"], "v1", 200)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(write, store if t % 2 else second, t) for t in range(8)]
            for future in futures:
                future.result()  # re-raises a writer's error, e.g. "database is locked"
    finally:
        second.close()
    rows = store.audit_rows()
    assert len(rows) == 400
    assert rows["key_id"].value_counts().to_dict() == {f"t{t}": 50 for t in range(8)}


def test_reopening_a_store_keeps_its_data_and_guards(store: Store, store_url: str, raw: Engine):
    record, token = store.create_key("viewer", "city")
    store.audit(record.key_id, "/health", [], None, 200)
    store.close()
    reopened = open_store(store_url)
    try:
        assert reopened.verify_key(token) == record
        assert len(reopened.audit_rows()) == 1
    finally:
        reopened.close()
    with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))


# --- warnings -------------------------------------------------------------------------------
def test_saving_the_same_warnings_again_adds_nothing(store: Store):
    rows = [warning("G1"), warning("G2", level="orange"), warning("G1", horizon=2)]
    assert store.save_warnings(rows) == 3
    assert store.save_warnings(rows) == 0
    assert store.save_warnings([*rows, warning("G3")]) == 1
    assert store.save_warnings([warning("G4"), warning("G4")]) == 1
    assert store.save_warnings([]) == 0
    assert len(store.query_warnings()) == 5


def test_warnings_round_trip_and_filter(store: Store):
    store.save_warnings([
        warning("G1"),
        warning("G2", level="yellow", kind="spreading", score=0.4),
        warning("G3", level="blue", kind="cyclical_sector", period=date(2024, 3, 18),
                as_of=datetime(2024, 3, 11, 8, 30), status="dismissed"),
    ])
    (g1,) = store.query_warnings(area_ids=["G1"])
    assert g1["evidence"] == {"collective_petitions": 3, "说明": "集体访增加"}
    assert (g1["response_zh"], g1["score"], g1["horizon"]) == ("街道调解队介入。", 0.91, 1)
    assert g1["status"] == "issued" and g1["issued_at"].utcoffset() == timedelta(0)
    assert len(g1["warning_id"]) >= 12

    def areas(**filters) -> list[str]:
        return [row["area_id"] for row in store.query_warnings(**filters)]

    assert areas() == ["G1", "G2", "G3"]
    assert areas(area_ids=["G2", "G3", "G9"]) == ["G2", "G3"]
    assert areas(area_ids=[]) == []
    assert areas(level="yellow") == ["G2"]
    assert areas(kind="cyclical_sector") == ["G3"]
    assert areas(period="2024-03-18") == ["G3"]
    assert areas(as_of=date(2024, 3, 4)) == ["G1", "G2"]
    assert areas(status="issued", level="red") == ["G1"]
    assert areas(status="dismissed") == ["G3"]


def test_the_same_warning_keeps_its_id_and_a_new_model_gets_a_new_one(store: Store):
    store.save_warnings([warning("G1"), warning("G1", model_version="v2")])
    ids = [row["warning_id"] for row in store.query_warnings(area_ids=["G1"])]
    assert len(set(ids)) == 2
    assert store.save_warnings([warning("G1", score=0.95)]) == 0  # same warning, re-scored


def test_bad_warnings_or_filters_are_input_errors(store: Store):
    with pytest.raises(InputError, match="row 2.*level 'purple'"):
        store.save_warnings([warning("G1"), warning("G2", level="purple")])
    with pytest.raises(InputError, match="row 1 lacks kind"):
        store.save_warnings([{k: v for k, v in warning().items() if k != "kind"}])
    with pytest.raises(InputError, match="period '11/03/2024'.*YYYY-MM-DD"):
        store.save_warnings([warning(period="11/03/2024")])
    with pytest.raises(InputError, match="kind 'flood'"):
        store.query_warnings(kind="flood")
    assert store.query_warnings() == []  # a bad batch saves nothing
