"""Schema migrations of the store, on SQLite and a real PostgreSQL: they build exactly the
tables of serving/store/, keep every row through an upgrade, adopt stores made before
migrations, and run once even when several workers open the store at the same moment."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Index, MetaData, Table, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from riskgrid.errors import InputError
from serving.store import (
    Store,
    metadata,
    migrations,
    open_engine,
    open_store,
    store_revision,
    upgrade_store,
)
from tests.cli.test_app import riskgrid
from tests.postgres import fresh_database
from tests.serving.test_store import warning

APPEND_ONLY = ("audit_log", "forecast_vintages", "forecasts", "warning_events")


@pytest.fixture(params=["sqlite",
                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: a SQLite file, or a new database on a real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'riskgrid.db'}"
        return
    with fresh_database("riskgrid_migrations") as database:
        yield database


@pytest.fixture
def raw(url: str) -> Iterator[Engine]:
    engine = create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


def revision_0001() -> ModuleType:
    path = migrations.FOLDER / "versions" / "0001_initial.py"
    spec = importlib.util.spec_from_file_location("revision_0001", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_legacy_store(raw: Engine, names: tuple[str, ...] | None = None) -> None:
    """A store as ``metadata.create_all`` made it before migrations: the 0001 tables (all, or
    the ones named) with their indexes and the append-only triggers, no alembic_version."""
    legacy = MetaData()
    for name, columns, indexes in revision_0001().tables():
        if names is None or name in names:
            table = Table(name, legacy, *columns)
            for index, on in indexes.items():
                Index(index, *(table.c[c] for c in on))
    with raw.begin() as conn:
        legacy.create_all(conn)
        for table in (t for t in APPEND_ONLY if t in legacy.tables):
            for statement in legacy_triggers(raw.dialect.name, table):
                conn.execute(text(statement))


def legacy_triggers(dialect: str, table: str) -> list[str]:
    """The trigger DDL that store.py ran after create_all before migrations existed."""
    if dialect == "sqlite":
        return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                for op in ("UPDATE", "DELETE")]
    return [f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"]


TOKEN = "rg_0123abcd_" + "k" * 24
# What a store of revision 0001 holds, written as that schema takes it (today's code writes
# the hash chain, which 0001 has no columns for); serial ids are the database's.
OLD_ROWS = {
    "api_keys": [
        {"key_id": "0123abcd", "key_hash": hashlib.sha256(TOKEN.encode()).hexdigest(),
         "role": "analyst", "scope": "S1", "label": "command centre",
         "created_at": "2024-03-01 08:00:00.123456", "revoked_at": None},
        {"key_id": "4567ef01", "key_hash": "0" * 64, "role": "viewer", "scope": "G1",
         "label": None, "created_at": "2024-03-01 09:00:00", "revoked_at": "2024-03-02 09:00:00"}],
    "audit_log": [
        {"at": "2024-03-04 10:00:00.5", "key_id": "0123abcd", "endpoint": "score",
         "areas": '["G1", "社区7"]', "model_version": "v1", "status": 200, "detail": None},
        {"at": "2024-03-04 10:00:01", "key_id": None, "endpoint": "score",
         "areas": "[]", "model_version": None, "status": 401, "detail": "missing API key"}],
    "warnings": [
        {"warning_id": "w1", "area_id": "G1", "level": "red", "kind": "sudden_group",
         "rule": None, "period": "2024-03-11", "as_of": "2024-03-04", "horizon": 1,
         "model_version": "v1", "score": 0.91, "evidence": '{"说明": "集体访增加"}',
         "response_en": "Send the team.", "response_zh": "街道调解队介入。",
         "status": "acknowledged", "issued_at": "2024-03-04 10:00:00"}],
    "warning_events": [
        {"warning_id": "w1", "action": "ack", "from_status": "issued",
         "to_status": "acknowledged", "who": "officer Wang", "at": "2024-03-04 11:00:00",
         "reason_code": None, "note": "on it"}],
    "forecast_vintages": [
        {"vintage_id": f"v{n}", "source": "api", "experiment": "tiny", "as_of": as_of,
         "model_version": "v1", "fingerprint": "abc", "issued_at": issued, "forecasts": 4}
        for n, (as_of, issued) in enumerate([("2024-03-04", "2024-03-04 12:00:00"),
                                             ("2024-03-11", "2024-03-11 12:00:00")])],
    "forecasts": [
        {"vintage_id": f"v{n}", "area_id": area, "horizon": h, "target_period": "2024-03-18",
         "expected_count": 1.5 + h, "low": 0.0, "high": 4.0, "risk_probability": 0.3,
         "risk_level": "yellow"} for n in (0, 1) for area in ("G1", "G2") for h in (1, 2)],
}
ORDER_BY = {"api_keys": "key_id", "audit_log": "id", "warnings": "warning_id",
            "warning_events": "event_id", "forecast_vintages": "vintage_id",
            "forecasts": "vintage_id, area_id, horizon"}


def fill(raw: Engine, tables: tuple[str, ...] | None = None) -> dict:
    """OLD_ROWS (of the tables named, or all) written with plain SQL; returns them as read."""
    with raw.begin() as conn:
        for table, rows in OLD_ROWS.items():
            if tables is None or table in tables:
                columns = ", ".join(rows[0])
                values = ", ".join(f":{c}" for c in rows[0])
                conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)
    return snapshot(raw, tables)


def snapshot(raw: Engine, tables: tuple[str, ...] | None = None) -> dict:
    """Every row of the tables, in the columns of revision 0001."""
    found = {}
    with raw.connect() as conn:
        for table, rows in OLD_ROWS.items():
            if tables is None or table in tables:
                found[table] = [tuple(r) for r in conn.execute(text(
                    f"SELECT {', '.join(rows[0])} FROM {table} ORDER BY {ORDER_BY[table]}"))]
    return found


def assert_kept(store: Store, before: dict, raw: Engine) -> None:
    assert snapshot(raw, tuple(before)) == before  # every row, column for column
    assert store.verify_key(TOKEN).scope == "S1"
    assert store.verify_history().intact  # the rows from before are chained by the upgrade
    # ... and it still works: new rows land, history still cannot be rewritten.
    store.audit("0123abcd", "warnings", ["S1"], "v2", 200)
    assert len(store.audit_rows()) == len(before["audit_log"]) + 1
    assert store.verify_history().intact
    assert_append_only(raw)


def assert_append_only(raw: Engine, tables: tuple[str, ...] = APPEND_ONLY) -> None:
    """Each table refuses to change its rows (SQLite's row triggers need a row to refuse)."""
    for table in tables:
        for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET {key(table)} = NULL"):
            with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
                conn.execute(text(statement))


def key(table: str) -> str:
    return {"audit_log": "detail", "forecast_vintages": "fingerprint", "forecasts": "low",
            "warning_events": "note"}[table]


def revision(raw: Engine) -> str | None:
    with raw.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrations_build_exactly_the_tables_of_store_py(url: str, raw: Engine):
    open_store(url).close()
    with raw.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    # A change to serving/store/'s tables without a new revision fails here: add one
    # (docs/stores.md, "Adding a revision").
    assert differences == []
    assert revision(raw) == migrations.head()


def test_the_newest_and_current_revisions_are_alembics(url: str, raw: Engine):
    """head() and current() read the files and the table without Alembic: they must agree."""
    from alembic.script import ScriptDirectory

    assert migrations.head() == ScriptDirectory.from_config(migrations.config()).get_current_head()
    assert migrations.current(raw) is None
    upgrade_store(url, "0002")
    assert migrations.current(raw) == revision(raw) == "0002"


def test_an_upgrade_from_0001_keeps_every_row_and_the_store_still_works(url: str, raw: Engine):
    assert upgrade_store(url, "0001") == "0001"
    before = fill(raw)
    indexes = {i["name"] for i in inspect(raw).get_indexes("forecast_vintages")}
    assert "ix_forecast_vintages_experiment_source_model" not in indexes
    store = open_store(url)
    try:
        assert revision(raw) == migrations.head() == "0004"
        indexes = {i["name"] for i in inspect(raw).get_indexes("forecast_vintages")}
        assert "ix_forecast_vintages_experiment_source_model" in indexes
        assert_kept(store, before, raw)
    finally:
        store.close()


def test_a_store_made_before_migrations_is_adopted_and_upgraded(url: str, raw: Engine):
    make_legacy_store(raw)
    before = fill(raw)
    assert revision(raw) is None
    assert store_revision(url) == (None, migrations.head())
    store = open_store(url)
    try:
        assert revision(raw) == migrations.head()
        assert_kept(store, before, raw)
    finally:
        store.close()


def test_a_store_from_before_the_ledger_gets_the_ledger_tables(url: str, raw: Engine):
    make_legacy_store(raw, names=("api_keys", "audit_log", "warnings"))
    before = fill(raw, ("api_keys", "audit_log"))
    store = open_store(url)
    try:
        assert snapshot(raw, ("api_keys", "audit_log")) == before
        assert store.verify_key(TOKEN).scope == "S1"
        assert len(store.audit_rows()) == 2 and store.verify_history().intact
        assert set(inspect(raw).get_table_names()) >= set(metadata.tables)
        assert store.vintages().empty and store.lifecycle_events().empty
    finally:
        store.close()
    assert_append_only(raw, ("audit_log",))


def test_opening_an_upgraded_store_again_changes_nothing(url: str, raw: Engine, monkeypatch):
    open_store(url).close()
    with raw.connect() as conn:
        schema = sorted(conn.execute(text(
            "SELECT name, sql FROM sqlite_master" if raw.dialect.name == "sqlite" else
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'"
        )).all())

    def refuse(*args, **kwargs):
        raise AssertionError("a store at the newest revision was migrated again")

    monkeypatch.setattr("alembic.command.upgrade", refuse)
    store = open_store(url)
    store.close()
    assert upgrade_store(url) == migrations.head()
    with raw.connect() as conn:
        assert sorted(conn.execute(text(
            "SELECT name, sql FROM sqlite_master" if raw.dialect.name == "sqlite" else
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'"
        )).all()) == schema


def test_workers_opening_a_new_store_at_once_migrate_it_once(url: str, raw: Engine):
    def open_and_close(_: int) -> str | None:
        store = open_store(url)
        store.close()
        return revision(raw)

    with ThreadPoolExecutor(max_workers=4) as pool:
        revisions = list(pool.map(open_and_close, range(4)))
    assert revisions == [migrations.head()] * 4
    with raw.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_an_unknown_revision_is_one_clear_sentence(url: str):
    with pytest.raises(InputError, match="revision 'nope'.*'head'"):
        upgrade_store(url, "nope")


def test_db_commands_upgrade_and_show_the_revision(tmp_path, monkeypatch):
    data = tmp_path / "data"
    done = riskgrid("db", "upgrade", "--revision", "0001", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "riskgrid.db is at revision 0001" in done.stdout
    done = riskgrid("db", "current", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "at revision 0001; behind: riskgrid db upgrade brings it to 0004" in done.stdout
    monkeypatch.setenv("RISKGRID_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    done = riskgrid("db", "current", data_dir=data)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr
    assert "unreachable" in lines[0] and "RISKGRID_DATABASE_URL" in lines[0]
