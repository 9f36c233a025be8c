"""Level overrides in the store, on SQLite and a real PostgreSQL: set, replaced and cleared as
new rows (the history stays whole), refused when incomplete, and never changed in place."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from riskgrid.errors import InputError
from serving.store import Store
from tests.serving.test_store import pg_database, raw, store, store_url  # noqa: F401

WEEK = "2024-03-11"


def test_an_override_is_set_replaced_and_cleared_and_its_history_stays(store: Store):
    store.set_override("tiny", "G1", WEEK, "orange", "new_dispute", "a wage dispute", "Li",
                       model_level="yellow", model_version="3")
    store.set_override("tiny", "G1", WEEK, "red", "petition_signs", "they are organising", "Li")
    store.set_override("tiny", "G2", WEEK, "none", "dispute_settled", "settled", "Wang")
    store.set_override("other", "G1", WEEK, "blue", "other", "another experiment", "Wang")
    (g1, g2) = store.overrides("tiny")
    assert (g1["area_id"], g1["level"], g1["reason_code"]) == ("G1", "red", "petition_signs")
    assert (g2["area_id"], g2["level"]) == ("G2", "none")
    assert store.overrides("tiny", area_ids=["G2"], periods=["2024-03-12"]) == []  # a Tuesday

    cleared = store.clear_override("tiny", "G1", WEEK, "Zhao", "the meeting went back")
    assert cleared["action"] == "clear" and cleared["who"] == "Zhao"
    assert [o["area_id"] for o in store.overrides("tiny")] == ["G2"]
    history = store.override_history("tiny", "G1", WEEK)
    assert [(e["action"], e["level"], e["who"]) for e in history] == [
        ("set", "orange", "Li"), ("set", "red", "Li"), ("clear", None, "Zhao")]
    assert history[0]["model_level"] == "yellow" and history[0]["model_version"] == "3"
    assert history[0]["at"] <= history[1]["at"] <= history[2]["at"]
    with pytest.raises(InputError, match="G1 has no override for the period 2024-03-11"):
        store.clear_override("tiny", "G1", WEEK, "Zhao", "again")
    assert store.verify_history().intact


@pytest.mark.parametrize(("change", "said"), [
    ({"level": "purple"}, "level 'purple'; use one of red, orange, yellow, blue, none"),
    ({"note": "  "}, "Say why in the note"),
    ({"who": ""}, "Say who sets the override of G1"),
    ({"reason_code": ""}, "needs a reason code"),
    ({"period": "11/03/2024"}, "not an ISO date; write it as YYYY-MM-DD"),
    ({"note": "x" * 2001}, "The note has 2001 characters; keep it under 2000"),
])
def test_an_incomplete_override_is_one_clear_sentence(store: Store, change: dict, said: str):
    request = {"experiment": "tiny", "area_id": "G1", "period": WEEK, "level": "red",
               "reason_code": "new_dispute", "note": "why", "who": "Li"} | change
    with pytest.raises(InputError, match=said):
        store.set_override(**request)
    assert store.override_history("tiny") == []


def test_overrides_cannot_be_changed_or_removed_in_place(store: Store, raw: Engine):
    store.set_override("tiny", "G1", WEEK, "red", "new_dispute", "a quarrel", "Li")
    for statement in ("UPDATE override_events SET level = 'blue'",
                      "DELETE FROM override_events"):
        with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(text(statement))
    assert store.overrides("tiny")[0]["level"] == "red"


def test_overrides_set_at_once_chain_one_after_another(store: Store):
    def put(i: int) -> None:
        store.set_override("tiny", f"G{i}", WEEK, "yellow", "sensitive_period", "an event",
                           f"analyst {i}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, range(8)))
    assert len(store.overrides("tiny")) == 8
    report = store.verify_history()
    assert report.intact and report.chains[-1].rows == 8
