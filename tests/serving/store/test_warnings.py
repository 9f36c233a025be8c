"""The warning lifecycle (Store.warning_action and warning_history) and `riskgrid warnings`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from riskgrid.errors import InputError
from riskgrid.settings import Settings
from serving.store import REASON_CODES, Store, open_store
from tests.cli.test_app import riskgrid
from tests.serving import test_store as shared

# The store's own fixtures: a fresh SQLite file, and a fresh PostgreSQL schema (on the
# machine's server, or a private one tests/postgres.py starts).
pg_database, store_url, store, raw = shared.pg_database, shared.store_url, shared.store, shared.raw
warning = shared.warning


def issue(store: Store, area_id: str = "G1", **overrides) -> str:
    store.save_warnings([warning(area_id, **overrides)])
    (row,) = store.query_warnings(area_ids=[area_id])
    return row["warning_id"]


def test_a_warning_goes_from_issued_to_closed_and_each_step_is_recorded(store: Store):
    wid = issue(store)
    before = datetime.now(UTC)
    acked = store.warning_action(wid, "ack", "Li (street duty officer)")
    assert acked["status"] == "acknowledged" and acked["warning_id"] == wid
    assert acked["evidence"]["collective_petitions"] == 3
    store.warning_action(wid, "handle", "Wang", note="mediation team met the group")
    closed = store.warning_action(wid, "close", "Li (street duty officer)")
    assert closed["status"] == "closed"
    assert [w["status"] for w in store.query_warnings(status="closed")] == ["closed"]
    history = store.warning_history(wid)
    assert [(e["action"], e["from_status"], e["to_status"], e["who"]) for e in history] == [
        ("ack", "issued", "acknowledged", "Li (street duty officer)"),
        ("handle", "acknowledged", "handled", "Wang"),
        ("close", "handled", "closed", "Li (street duty officer)"),
    ]
    assert history[1]["note"] == "mediation team met the group"
    assert history[0]["reason_code"] is None and history[0]["note"] is None
    times = [e["at"] for e in history]
    assert times == sorted(times) and all(t.utcoffset() == timedelta(0) for t in times)
    assert before - timedelta(seconds=1) <= times[0] <= datetime.now(UTC)


@pytest.mark.parametrize("steps", [[], ["ack"], ["ack", "handle"]])
def test_dismiss_from_any_open_status_needs_a_reason_code(store: Store, steps: list[str]):
    wid = issue(store)
    for step in steps:
        store.warning_action(wid, step, "Li")
    with pytest.raises(InputError, match=f"Dismissing warning {wid} needs a reason code"):
        store.warning_action(wid, "dismiss", "Li")
    with pytest.raises(InputError, match="reason code 'boring'.*false_alarm, duplicate"):
        store.warning_action(wid, "dismiss", "Li", reason="boring")
    dismissed = store.warning_action(wid, "dismiss", "Li", reason="duplicate",
                                     note="same as the warning on G2")
    assert dismissed["status"] == "dismissed"
    last = store.warning_history(wid)[-1]
    assert (last["action"], last["to_status"], last["reason_code"]) == (
        "dismiss", "dismissed", "duplicate")
    assert len(store.warning_history(wid)) == len(steps) + 1  # refusals leave no trace


def test_every_documented_reason_code_is_accepted(store: Store):
    for number, reason in enumerate(REASON_CODES):
        wid = issue(store, f"G{number}")
        assert store.warning_action(wid, "dismiss", "Li", reason=reason)["status"] == "dismissed"
    assert set(REASON_CODES) == {"false_alarm", "duplicate", "out_of_scope", "already_handled",
                                 "data_error"}


@pytest.mark.parametrize(("steps", "action", "message"), [
    ([], "handle", ("is issued, so it cannot be handled: from issued it can only be "
                    "acknowledged or dismissed")),
    ([], "close", "is issued, so it cannot be closed"),
    (["ack"], "ack", ("is acknowledged, so it cannot be acknowledged: from acknowledged it "
                      "can only be handled or dismissed")),
    (["ack"], "close", "is acknowledged, so it cannot be closed"),
    (["ack", "handle", "close"], "dismiss", "is closed, so it cannot be dismissed: closed is final"),
    (["ack", "handle", "close"], "ack", "is closed, so it cannot be acknowledged"),
])
def test_invalid_steps_are_refused_in_one_sentence(store: Store, steps, action, message):
    wid = issue(store)
    for step in steps:
        store.warning_action(wid, step, "Li")
    with pytest.raises(InputError) as refused:
        store.warning_action(wid, action, "Li", reason="false_alarm" if action == "dismiss"
                             else None)
    text_ = str(refused.value)
    assert f"Warning {wid} {message}" in text_
    assert text_.count(". ") == 0 and text_.endswith(".")
    assert len(store.warning_history(wid)) == len(steps)


def test_a_dismissed_warning_stays_dismissed(store: Store):
    wid = issue(store)
    store.warning_action(wid, "dismiss", "Li", reason="false_alarm")
    for action in ("ack", "handle", "close"):
        with pytest.raises(InputError, match="dismissed is final"):
            store.warning_action(wid, action, "Li")
    assert store.warning(wid)["status"] == "dismissed"


def test_bad_ids_actions_people_and_reasons_are_input_errors(store: Store):
    wid = issue(store)
    with pytest.raises(InputError, match="No warning has id 'nope'"):
        store.warning_action("nope", "ack", "Li")
    with pytest.raises(InputError, match="No warning has id 'nope'"):
        store.warning_history("nope")
    with pytest.raises(InputError, match="Action 'approve'.*ack, handle, close, dismiss"):
        store.warning_action(wid, "approve", "Li")
    with pytest.raises(InputError, match="who is empty"):
        store.warning_action(wid, "ack", "  ")
    with pytest.raises(InputError, match="reason code is only given to dismiss"):
        store.warning_action(wid, "ack", "Li", reason="false_alarm")
    with pytest.raises(InputError, match="note has 2001 characters"):
        store.warning_action(wid, "ack", "Li", note="x" * 2001)
    with pytest.raises(InputError, match="status 'open'"):
        store.query_warnings(status="open")
    assert store.warning(wid)["status"] == "issued" and store.warning_history(wid) == []


def test_history_cannot_be_rewritten(store: Store, raw: Engine):
    wid = issue(store)
    store.warning_action(wid, "ack", "Li")
    for statement in ("UPDATE warning_events SET who = 'someone else'",
                      "DELETE FROM warning_events"):
        with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(text(statement))
    assert [e["who"] for e in store.warning_history(wid)] == ["Li"]


def test_two_officers_acknowledging_at_once_record_one_step(store: Store, store_url: str):
    wid = issue(store)
    other = open_store(store_url)  # as if from the CLI while the service runs

    def ack(target: Store, who: str) -> str:
        try:
            target.warning_action(wid, "ack", who)
            return "ok"
        except InputError:
            return "refused"

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(ack, [store, other], ["Li", "Wang"]))
    finally:
        other.close()
    assert sorted(results) == ["ok", "refused"]
    assert len(store.warning_history(wid)) == 1


def test_warnings_commands_move_a_warning_and_show_its_history(tmp_path):
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data).store_url())
    store.save_warnings([warning("G1"), warning("G2", level="yellow")])
    first, second = (w["warning_id"] for w in store.query_warnings())
    store.close()
    listed = riskgrid("warnings", "list", "--level", "yellow", "--json",
                      str(tmp_path / "w.json"), data_dir=data)
    assert listed.returncode == 0, listed.stderr
    assert second in listed.stdout and first not in listed.stdout
    assert [w["area_id"] for w in json.loads((tmp_path / "w.json").read_text())["warnings"]] == [
        "G2"]
    done = riskgrid("warnings", "ack", first, "--who", "Li", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert f"warning {first}: issued -> acknowledged by Li" in done.stdout
    done = riskgrid("warnings", "handle", first, "--who", "Li", "--note", "team sent",
                    data_dir=data)
    assert "acknowledged -> handled" in done.stdout
    assert riskgrid("warnings", "close", first, "--who", "Li", data_dir=data).returncode == 0
    refused = riskgrid("warnings", "close", first, "--who", "Li", data_dir=data)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert [line for line in refused.stderr.splitlines() if line.strip()] == [
        f"error: Warning {first} is closed, so it cannot be closed: closed is final."]
    no_reason = riskgrid("warnings", "dismiss", second, data_dir=data)
    assert no_reason.returncode == 2 and "needs a reason code: one of false_alarm" in (
        no_reason.stderr)
    dismissed = riskgrid("warnings", "dismiss", second, "--reason", "out_of_scope", data_dir=data)
    assert dismissed.returncode == 0 and "issued -> dismissed" in dismissed.stdout
    history = riskgrid("warnings", "history", first, data_dir=data)
    assert history.returncode == 0
    for word in ("ack", "handle", "close", "team sent", "Li"):
        assert word in history.stdout
    reopened = open_store(Settings(data_dir=data).store_url())
    assert [w["status"] for w in reopened.query_warnings()] == ["closed", "dismissed"]
    (dismissal,) = reopened.warning_history(second)
    assert dismissal["reason_code"] == "out_of_scope" and dismissal["who"]  # the OS user
    reopened.close()
