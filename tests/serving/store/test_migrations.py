"""Schema migrations of the store, on SQLite and a real PostgreSQL: they build exactly the
tables of serving/store/, keep every row through an upgrade, adopt stores made before
migrations, and run once even when several workers open the store at the same moment."""

from __future__ import annotations

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


def fill(store: Store) -> dict:
    """One of everything the store holds; returns what a reader should find afterwards."""
    record, token = store.create_key("analyst", "S1", label="command centre")
    revoked, _ = store.create_key("viewer", "G1")
    store.revoke_key(revoked.key_id)
    store.audit(record.key_id, "score", ["G1", "社区7"], "v1", 200)
    store.audit(None, "score", [], None, 401, detail="missing API key")
    store.save_warnings([warning("G1"), warning("G2", level="orange")])
    (g1,) = store.query_warnings(area_ids=["G1"])
    store.warning_action(g1["warning_id"], "ack", "officer Wang", note="on it")
    rows = [{"area_id": area, "horizon": h, "target_period": "2024-03-11",
             "expected_count": 1.5, "low": 0.0, "high": 4.0, "risk_probability": 0.3,
             "risk_level": "yellow"} for area in ("G1", "G2") for h in (1, 2)]
    meta = {"source": "api", "experiment": "tiny", "as_of": "2024-03-04",
            "model_version": "v1", "fingerprint": "abc"}
    store.save_vintages([(meta, rows)])
    return {"token": token, "record": record, "keys": store.list_keys(),
            "audit": store.audit_rows(), "warnings": store.query_warnings(),
            "events": store.lifecycle_events(), "vintages": store.vintages(),
            "forecasts": store.forecasts()}


def assert_kept(store: Store, before: dict, raw: Engine) -> None:
    assert store.verify_key(before["token"]) == before["record"]
    assert store.list_keys() == before["keys"]
    pd.testing.assert_frame_equal(store.audit_rows(), before["audit"])
    assert store.query_warnings() == before["warnings"]
    pd.testing.assert_frame_equal(store.lifecycle_events(), before["events"])
    pd.testing.assert_frame_equal(store.vintages(), before["vintages"])
    pd.testing.assert_frame_equal(store.forecasts(), before["forecasts"])
    # ... and it still works: new rows land, history still cannot be rewritten.
    store.audit(before["record"].key_id, "warnings", ["S1"], "v2", 200)
    assert len(store.audit_rows()) == len(before["audit"]) + 1
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


def test_an_upgrade_from_0001_keeps_every_row_and_the_store_still_works(url: str, raw: Engine):
    assert upgrade_store(url, "0001") == "0001"
    old = Store(open_engine(url))  # the code of today on the schema of 0001
    before = fill(old)
    old.close()
    indexes = {i["name"] for i in inspect(raw).get_indexes("forecast_vintages")}
    assert "ix_forecast_vintages_experiment_source_model" not in indexes
    store = open_store(url)
    try:
        assert revision(raw) == migrations.head() == "0002"
        indexes = {i["name"] for i in inspect(raw).get_indexes("forecast_vintages")}
        assert "ix_forecast_vintages_experiment_source_model" in indexes
        assert_kept(store, before, raw)
    finally:
        store.close()


def test_a_store_made_before_migrations_is_adopted_and_upgraded(url: str, raw: Engine):
    make_legacy_store(raw)
    legacy = Store(open_engine(url))
    before = fill(legacy)
    legacy.close()
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
    legacy = Store(open_engine(url))
    record, token = legacy.create_key("admin", "city")
    legacy.audit(record.key_id, "score", ["G1"], "v1", 200)
    legacy.close()
    store = open_store(url)
    try:
        assert store.verify_key(token) == record
        assert len(store.audit_rows()) == 1
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

    monkeypatch.setattr(migrations.command, "upgrade", refuse)
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
    assert "at revision 0001; behind: riskgrid db upgrade brings it to 0002" in done.stdout
    monkeypatch.setenv("RISKGRID_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    done = riskgrid("db", "current", data_dir=data)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr
    assert "unreachable" in lines[0] and "RISKGRID_DATABASE_URL" in lines[0]
