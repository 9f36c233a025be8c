"""The service as dashboards see it: a real BentoML server on loopback (see conftest)."""

from __future__ import annotations

import math
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from features.io import read_table
from riskgrid import vocabulary as C
from serving.champion import load_champion
from tests.serving.conftest import (
    SANE,
    SCOPES,
    SILENT,
    SILENT_SINCE,
    start,
    stop,
    train_and_promote,
    write_experiment,
)

pytestmark = pytest.mark.server
GRIDS = [f"A{i}" for i in range(6)]
# scope -> the grids it covers (random_tables: C{i//2}, S{i//4}, one district D0)
COVERS = {"city": set(GRIDS), "D0": set(GRIDS), "S0": {"A0", "A1", "A2", "A3"},
          "S1": {"A4", "A5"}, "C0": {"A0", "A1"}, "A0": {"A0"}}
LEVEL_NAMES = {"red", "orange", "yellow", "blue", "none"}
# area -> the units it lies in, itself included
ABOVE = {"city": {"city"}, "D0": {"city", "D0"}, "S0": {"city", "D0", "S0"},
         "S1": {"city", "D0", "S1"}, "A0": {"city", "D0", "S0", "C0", "A0"},
         "A5": {"city", "D0", "S1", "C2", "A5"}}
# every unit and grid -> the grids it covers
GRIDS_OF = {**{g: {g} for g in GRIDS}, "C0": {"A0", "A1"}, "C1": {"A2", "A3"},
            "C2": {"A4", "A5"}, "S0": COVERS["S0"], "S1": COVERS["S1"], "D0": set(GRIDS),
            "city": set(GRIDS)}
# grid -> the units above it, by level
UNITS_OF = {g: {"community": {f"C{i // 2}"}, "street": {f"S{i // 4}"}, "district": {"D0"}}
            for i, g in enumerate(GRIDS)}


def test_score_answers_the_documented_shape_with_the_champions_numbers(server):
    r = server.post("score", {"area_ids": ["A3", "A0"], "horizons": [2, 1]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"model_version", "as_of", "scores"}
    assert body["model_version"] == load_champion(server.settings, "tiny").version
    assert body["as_of"] == "2023-12-25"  # the panel's last complete week
    assert [(s["area_id"], s["horizon"]) for s in body["scores"]] == [
        ("A3", 2), ("A0", 2), ("A3", 1), ("A0", 1)]
    panel = read_table(server.settings.data_dir / "tiny" / "features", "panel")
    latest = panel[panel[C.PERIOD] == panel[C.PERIOD].max()].reset_index(drop=True)
    expected = load_champion(server.settings, "tiny").model.predict(latest)
    for s in body["scores"]:
        assert set(s) == {"area_id", "horizon", "expected_count", "interval",
                          "risk_probability", "risk_level", "rank", "percentile", "drivers",
                          "model_level", "override", "data_alarms"}
        row = expected[(expected[C.AREA_ID] == s["area_id"]) & (expected.horizon == s["horizon"])]
        assert s["expected_count"] == pytest.approx(row.expected_count.item(), rel=1e-6)
        assert s["risk_probability"] == pytest.approx(row.risk_probability.item(), rel=1e-6)
        low, high = s["interval"]
        # counts around the most likely ones: within one count of the expected count
        assert low <= high and low - 1 < s["expected_count"] < high + 1
        assert s["risk_level"] in LEVEL_NAMES and 1 <= s["rank"] <= 6
        assert 0 <= s["percentile"] <= 100
        assert len(s["drivers"]) == 5
        sizes = [abs(d["contribution"]) for d in s["drivers"]]
        assert sizes == sorted(sizes, reverse=True)
        for d in s["drivers"]:
            assert d["label_en"] and d["label_zh"] and d["label_zh"] != d["feature"]
            value = latest.loc[latest[C.AREA_ID] == s["area_id"], d["feature"]].item() \
                if d["feature"] in latest else None
            if value is not None and not pd.isna(value):
                assert d["value"] == pytest.approx(value, rel=1e-5)


def test_ranks_order_the_grids_by_probability(server):
    body = server.post("score", {"level": "grid", "parent_id": "city"}).json()
    assert body.get("error", "").startswith("6 areas is over the cap of 5")  # cap is 5 here
    scores = server.post("score", {"level": "grid", "parent_id": "S0"}).json()["scores"]
    assert sorted(s["area_id"] for s in scores) == ["A0", "A1", "A2", "A3"]
    ordered = sorted(scores, key=lambda s: s["rank"])
    probs = [s["risk_probability"] for s in ordered]
    assert probs == sorted(probs, reverse=True)


def test_explain_adds_up_and_shows_changes_since_last_period(server):
    r = server.post("explain", {"area_id": "A2", "horizon": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    total = body["base_value"] + sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["log_rate"], abs=1e-6)
    assert math.exp(body["log_rate"]) == pytest.approx(body["expected_count"], rel=1e-5)
    assert body["previous"]["as_of"] == "2023-12-18"
    before = server.post("explain", {"area_id": "A2", "horizon": 1, "as_of": "2023-12-18"})
    old = {c["feature"]: c["contribution"] for c in before.json()["contributions"]}
    for change in body["changes"][:10]:
        now = next(c for c in body["contributions"] if c["feature"] == change["feature"])
        assert change["contribution"] == pytest.approx(
            now["contribution"] - old[change["feature"]], abs=1e-9)


def test_score_features_matches_score_and_validates_rows(server):
    panel = read_table(server.settings.data_dir / "tiny" / "features", "panel")
    info = server.post("model_info").json()
    row = panel[(panel[C.PERIOD] == panel[C.PERIOD].max()) & (panel[C.AREA_ID] == "A1")]
    payload = {f: (None if pd.isna(v) else float(v))
               for f, v in row[info["features"]].iloc[0].items()}
    payload |= {"area_id": "A1", "period": "2023-12-25"}
    r = server.post("score_features", {"rows": [payload], "horizons": [1]}, key="analyst")
    assert r.status_code == 200, r.text
    scored = server.post("score", {"area_ids": ["A1"]}).json()["scores"][0]
    assert r.json()["scores"][0]["expected_count"] == pytest.approx(scored["expected_count"])
    # what if incidents had doubled this week?
    louder = payload | {"all_now": payload["all_now"] * 2 + 10}
    r2 = server.post("score_features", {"rows": [louder]}, key="analyst")
    assert r2.status_code == 200
    missing = {k: v for k, v in payload.items() if k != "all_ewm"}
    r = server.post("score_features", {"rows": [missing]}, key="analyst")
    assert r.status_code == 422 and "all_ewm" in r.json()["error"]
    r = server.post("score_features", {"rows": [payload | {"all_now": "many"}]}, key="analyst")
    assert r.status_code == 422 and "'all_now'" in r.json()["error"]
    r = server.post("score_features", {"rows": [payload | {"colour": 1}]}, key="analyst")
    assert r.status_code == 422 and "colour" in r.json()["error"]
    assert server.post("score_features", {"rows": [payload]}, key="city").status_code == 403


def test_forecast_gives_a_trend_with_intervals(server):
    r = server.post("forecast", {"unit_id": "city", "horizon": 4})
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    ahead = [p for p in points if p["is_forecast"]]
    assert [p["period"] for p in ahead] == ["2024-01-01", "2024-01-08", "2024-01-15",
                                           "2024-01-22"]
    assert all(p["low"] <= p["forecast"] <= p["high"] for p in points)
    assert all(p["observed"] is not None for p in points if not p["is_forecast"])
    r = server.post("forecast", {"unit_id": "A0"})
    assert r.status_code == 422 and "street, district, city" in r.json()["error"]


def test_warnings_are_issued_stored_and_filtered_by_scope(server):
    deadline = time.monotonic() + 60  # issued in the background after start
    while not (found := server.post("warnings").json()["warnings"]):
        assert time.monotonic() < deadline, "no warnings were issued"
        time.sleep(1)
    for w in found:
        assert w["kind"] in {"sudden_group", "cyclical_sector", "spreading", "sinking_backlog"}
        assert w["level"] in LEVEL_NAMES - {"none"}
        assert w["response_en"] and w["response_zh"] and w["evidence"]
    stored = [w for w in server.store.query_warnings()
              if w["status"] in ("issued", "acknowledged", "handled")]  # the active ones
    assert {w["warning_id"] for w in found} == {w["warning_id"] for w in stored}
    s1 = server.post("warnings", key="S1").json()["warnings"]
    assert {w["warning_id"] for w in s1} == {w["warning_id"] for w in found
                                             if w["area_id"] in COVERS["S1"] | {"S1"}}
    level = found[0]["level"]
    only = server.post("warnings", {"level": level}).json()["warnings"]
    assert only and {w["level"] for w in only} == {level}
    assert server.post("warnings", {"kind": "weather"}).status_code == 422


def test_model_info_says_what_is_served(server):
    info = server.post("model_info").json()
    assert info["source"] == "registry" and info["horizons"] == [1, 2]
    assert info["levels"] == {"grid": 6, "community": 3, "street": 2, "district": 1, "city": 1}
    assert info["periods"][1] == "2023-12-25"
    assert "poisson_deviance" in info["backtest"]["model"]["1"]


@pytest.mark.parametrize("scope", SCOPES)
def test_scope_matrix(server, scope):
    """Every key x every grid and unit: 200 inside the scope, 403 outside, never partial."""
    for grid in GRIDS:
        r = server.post("score", {"area_ids": [grid]}, key=scope)
        assert r.status_code == (200 if grid in COVERS[scope] else 403), (scope, grid)
    both = server.post("score", {"area_ids": ["A0", "A5"]}, key=scope)
    assert both.status_code == (200 if {"A0", "A5"} <= COVERS[scope] else 403)
    for unit in ("S0", "S1", "D0", "city"):
        r = server.post("forecast", {"unit_id": unit, "horizon": 1}, key=scope)
        inside = scope == "city" or scope == unit or (scope == "D0" and unit != "city")
        assert r.status_code == (200 if inside else 403), (scope, unit, r.text)
        r = server.post("score", {"area_ids": [unit]}, key=scope)
        assert r.status_code == (200 if inside else 403), (scope, unit, r.text)
    for level in ("community", "street"):
        r = server.post("score", {"level": level, "parent_id": scope}, key=scope)
        assert r.status_code == 200, (scope, level, r.text)
        inside = {u for g in COVERS[scope] for u in UNITS_OF[g][level]
                  if all(g2 in COVERS[scope] for g2 in GRIDS if u in UNITS_OF[g2][level])}
        assert {s["area_id"] for s in r.json()["scores"]} == inside, (scope, level)
    # the city's streets: the scope is checked on the parent asked for, so only a city key
    r = server.post("score", {"level": "street", "parent_id": "city"}, key=scope)
    assert r.status_code == (200 if scope == "city" else 403)
    # data alarms of an area: inside the scope only; the silent street's alarm concerns the
    # units it lies in and the areas inside it, never its neighbours
    for area in ("city", "D0", "S0", "S1", "A0", "A5"):
        r = server.post("data_quality", {"area_id": area}, key=scope)
        inside = scope in ABOVE[area]
        assert r.status_code == (200 if inside else 403), (scope, area, r.text)
        if inside:
            concerned = area in ("city", "D0", "S1", "A5")
            assert [a["area_id"] for a in r.json()["alarms"]] == ([SILENT] if concerned else [])
    # overrides: analysts only, and only inside their scope
    _, analyst = server.store.create_key("analyst", scope, f"override test {scope}")
    for area in ("A0", "A5", "S1"):
        body = {"area_id": area, "period": "2024-01-08", "level": "red",
                "reason_code": "data_error", "note": "scope check"}
        allowed = scope in ABOVE[area]
        assert server.post("override", body, key=scope).status_code == 403  # a viewer
        r = server.post("override", body, key=analyst)
        assert r.status_code in ((200, 422) if allowed else (403,)), (scope, area, r.text)
        if r.status_code == 200:  # leave nothing behind for the other tests
            cleared = server.post("override", {"area_id": area, "period": "2024-01-08",
                                               "clear": True, "note": "undo"}, key=analyst)
            assert cleared.status_code == 200, cleared.text

    # the safety index: the same scopes, by id of any level and by level under a parent
    for unit, grids in GRIDS_OF.items():
        r = server.post("safety_index", {"area_ids": [unit]}, key=scope)
        inside = scope == "city" or (unit != "city" and grids <= COVERS[scope])
        assert r.status_code == (200 if inside else 403), (scope, unit, r.text)
    r = server.post("safety_index", {"level": "community", "parent_id": scope}, key=scope)
    assert r.status_code == 200, (scope, r.text)
    assert {i["area_id"] for i in r.json()["index"]} == {
        u for u, grids in GRIDS_OF.items() if u.startswith("C") and grids <= COVERS[scope]}
    r = server.post("safety_index", {"level": "street", "parent_id": "city"}, key=scope)
    assert r.status_code == (200 if scope == "city" else 403)


def test_an_override_shows_on_score_beside_the_model_level_and_clearing_keeps_it(server):
    def score() -> list[dict]:
        r = server.post("score", {"area_ids": ["A2", "S0"], "horizons": [1, 2]})
        assert r.status_code == 200, r.text
        return r.json()["scores"]

    before = score()  # A2 and S0 for 2024-01-01 (h1), then for 2024-01-08 (h2)
    assert all(s["override"] is None and s["model_level"] == s["risk_level"] for s in before)
    model = before[0]["risk_level"]
    level, reason = ("none", "dispute_settled") if model != "none" else ("red", "new_dispute")
    body = {"area_id": "A2", "period": "2024-01-03", "level": level, "reason_code": reason,
            "note": "the site manager paid the wages today"}
    assert server.post("override", body).status_code == 403  # a viewer key may not
    r = server.post("override", body, key="analyst")
    assert r.status_code == 200, r.text
    made = r.json()["override"]
    assert (made["period"], made["level"], made["model_level"], made["action"]) == (
        "2024-01-01", level, model, "set")
    assert made["who"].startswith("key:") and "test analyst" in made["who"]
    a2, s0, a2_later, s0_later = score()
    assert (a2["risk_level"], a2["model_level"]) == (level, model)
    assert {k: a2["override"][k] for k in ("level", "reason_code", "note", "who")} == {
        "level": level, "reason_code": reason, "note": body["note"], "who": made["who"]}
    assert a2["override"]["reason_zh"] == (
        "相关矛盾纠纷已化解" if reason == "dispute_settled" else "出现新的矛盾纠纷，数据中尚未反映")
    assert a2_later["override"] is None and a2_later["risk_level"] == a2_later["model_level"]
    assert s0 == before[1] and s0_later == before[3]  # a street's forecast is its own
    for bad, said in [({"level": "purple"}, "not a level"), ({"reason_code": "hunch"}, "hunch"),
                      ({"period": "2023-12-20"}, "2024-01-01 to 2024-01-08"),
                      ({"reason_code": "new_dispute" if level == "none" else
                        "dispute_settled"}, "choose a reason that fits")]:
        r = server.post("override", body | bad, key="analyst")
        assert r.status_code == 422 and said in r.json()["error"], (bad, r.text)

    r = server.post("override", {"area_id": "A2", "period": "2024-01-01", "clear": True,
                                 "note": "the meeting went back to the model"}, key="analyst")
    assert r.status_code == 200, r.text
    assert [e["action"] for e in r.json()["history"]][-2:] == ["set", "clear"]
    assert score()[0] == before[0]  # the model's level again
    history = server.store.override_history("tiny", "A2", "2024-01-01")
    assert [e["action"] for e in history][-2:] == ["set", "clear"]
    assert server.store.verify_history().intact
    again = server.post("override", {"area_id": "A2", "period": "2024-01-01", "clear": True,
                                     "note": "twice"}, key="analyst")
    assert again.status_code == 422 and "no override" in again.json()["error"]


def test_data_alarms_are_listed_in_plain_words_and_flag_the_forecasts_resting_on_them(server):
    r = server.post("data_quality", {})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["as_of"], body["area_id"]) == ("2023-12-25", "city")
    (alarm,) = body["alarms"]
    assert (alarm["kind"], alarm["area_id"], alarm["level"], alarm["since"]) == (
        "no_data", SILENT, "street", SILENT_SINCE)
    assert alarm["periods"] == 3 and alarm["observed"] == 0 and alarm["usual"] > 10
    assert alarm["sentence_en"].startswith(f"{SILENT}: no records from any source for 3 weeks")
    assert "缺数据，不是没有事" in alarm["sentence_zh"]
    scores = server.post("score", {"area_ids": ["A5", "A0", "S1", "D0"]}).json()["scores"]
    assert [len(s["data_alarms"]) for s in scores] == [1, 0, 1, 1]
    assert scores[0]["data_alarms"][0] == {
        "kind": "no_data", "source": None, "channel": None, "area_id": SILENT,
        "since": SILENT_SINCE, "until": "2023-12-25"}
    earlier = server.post("data_quality", {"as_of": "2023-11-27"}).json()
    assert earlier["as_of"] == "2023-11-27" and earlier["alarms"] == []  # before it happened


def test_units_are_scored_from_their_grids(server):
    from scipy.stats import poisson

    r = server.post("score", {"level": "street", "parent_id": "city", "horizons": [1, 2]})
    assert r.status_code == 200, r.text
    streets = r.json()["scores"]
    assert [(s["area_id"], s["horizon"]) for s in streets] == [
        ("S0", 1), ("S1", 1), ("S0", 2), ("S1", 2)]
    for s in streets:
        grids = sorted(g for g in GRIDS if UNITS_OF[g]["street"] == {s["area_id"]})
        found = server.post("score", {"area_ids": grids, "horizons": [s["horizon"]]}).json()
        expected = sum(g["expected_count"] for g in found["scores"])
        assert s["expected_count"] == pytest.approx(expected)
        # the Poisson interval of the sum (80% by default), not the sum of the intervals
        assert s["interval"] == [poisson.ppf(0.1, expected), poisson.ppf(0.9, expected)]
        none_high = np.prod([1 - g["risk_probability"] for g in found["scores"]])
        assert s["risk_probability"] == pytest.approx(1 - none_high)
        assert s["risk_level"] in LEVEL_NAMES and s["rank"] in (1, 2)
        assert 1 <= len(s["drivers"]) <= 5 and all(d["label_zh"] for d in s["drivers"])
    first = [s for s in streets if s["horizon"] == 1]
    assert sorted(s["rank"] for s in first) == [1, 2]
    top = min(first, key=lambda s: s["rank"])
    assert top["risk_probability"] == max(s["risk_probability"] for s in first)
    district = server.post("score", {"area_ids": ["D0", "city"]}).json()["scores"]
    assert district[0]["expected_count"] == pytest.approx(district[1]["expected_count"])
    assert district[0]["rank"] == 1 and district[0]["percentile"] == 0.0
    bad = server.post("score", {"level": "province", "parent_id": "city"})
    assert bad.status_code == 422 and "level must be one of" in bad.json()["error"]


def test_safety_index_answers_the_documented_shape_for_units_of_any_level(server):
    from riskgrid.experiment import load_experiment
    from serving.safety import SafetyIndex

    r = server.post("safety_index", {"level": "street", "parent_id": "city"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"model_version", "as_of", "window", "left_out", "index"}
    assert body["as_of"] == "2023-12-25" and body["window"] == 13 and body["left_out"] == []
    streets = body["index"]
    assert [i["area_id"] for i in streets] == ["S0", "S1"]
    for item in streets:
        assert set(item) == {"area_id", "level", "value", "rank", "units", "change",
                             "change_year", "forecast", "components"}
        assert 0 <= item["value"] <= 100 and 0 <= item["forecast"] <= 100
        assert item["level"] == "street" and item["units"] == 2
        assert item["change_year"] is None  # a year of data: no same week a year before
        assert len(item["components"]) == 11
        for c in item["components"]:
            assert set(c) == {"name", "label_en", "label_zh", "value", "weight", "figure",
                              "typical"}
            assert c["label_en"].isascii() and not c["label_zh"].isascii()
        assert sum(c["weight"] for c in item["components"]) == pytest.approx(1.0)
        known = [c for c in item["components"] if c["weight"] > 0]
        assert item["value"] == pytest.approx(sum(c["value"] * c["weight"] for c in known))
    assert sorted(streets, key=lambda i: -i["value"]) == sorted(streets,
                                                               key=lambda i: i["rank"])
    # the change is against the previous week's index, which the API gives for that week
    before = server.post("safety_index", {"area_ids": ["S0"], "as_of": "2023-12-18"}).json()
    assert before["as_of"] == "2023-12-18"
    assert streets[0]["change"] == pytest.approx(streets[0]["value"] -
                                                 before["index"][0]["value"])
    # next week's index from the champion's expected counts of every grid (/score)
    grids = [s for part in (GRIDS[:3], GRIDS[3:]) for s in server.post(
        "score", {"area_ids": part, "horizons": [1]}).json()["scores"]]
    expected = pd.Series({s["area_id"]: s["expected_count"] for s in grids})
    data = server.settings.data_dir / "tiny"
    index = SafetyIndex.of(read_table(data / "features", "panel"),
                           read_table(data / "clean", "areas"), load_experiment(server.experiment))
    ahead = index.forecast("street", pd.Timestamp("2023-12-25"), expected, "all")
    assert [i["forecast"] for i in streets] == pytest.approx(list(ahead))
    mixed = server.post("safety_index", {"area_ids": ["A0", "C1", "D0", "city"]}).json()
    assert [(i["area_id"], i["level"]) for i in mixed["index"]] == [
        ("A0", "grid"), ("C1", "community"), ("D0", "district"), ("city", "city")]
    assert mixed["index"][2]["value"] == pytest.approx(mixed["index"][3]["value"])
    for body, status in (({"level": "province", "parent_id": "city"}, 422), ({}, 422),
                         ({"area_ids": ["nowhere"]}, 422), ({"area_ids": GRIDS}, 413)):
        assert server.post("safety_index", body).status_code == status, body


def test_keys_missing_wrong_or_revoked_get_401(server):
    assert server.post("score", {"area_ids": ["A0"]}, key=None).status_code == 401
    assert server.post("score", {"area_ids": ["A0"]}, key="rg_nope_123").status_code == 401
    record, token = server.store.create_key("viewer", "city", "to revoke")
    assert server.post("model_info", key=token).status_code == 200
    server.store.revoke_key(record.key_id)
    time.sleep(5.5)  # the service caches a valid key for at most 5 s
    assert server.post("model_info", key=token).status_code == 401


def test_bad_input_gets_a_4xx_with_a_message(server):
    cases = [
        ({"area_ids": ["nowhere"]}, 422, "unknown area"),
        ({"area_ids": ["A0"], "horizons": [9]}, 422, "not served"),
        ({"area_ids": []}, 400, "at least 1"),
        ({"area_ids": "A0"}, 400, "valid array"),
        ({"area_ids": ["A0"], "horizons": ["soon"]}, 400, "integer"),
        ({"area_ids": ["A0"], "as_of": "yesterday"}, 400, "as_of"),
        ({"area_ids": ["A0"], "as_of": "2" * 300_000}, 400, "as_of"),
        ({"area_ids": ["A0"], "as_of": "2025-12-22T00:00:00Z"}, 400, "as_of"),
        ({"area_ids": ["A0"], "as_of": "1677-09-21"}, 422, "outside"),
        ({"area_ids": ["A0"], "as_of": "2262-04-12"}, 422, "outside"),
        ({"area_ids": ["A" * 200_000]}, 400, "area_ids"),
        ({"area_ids": ["A0\nA1"]}, 400, "area_ids"),
        ({"level": "g" * 100_000, "parent_id": "S0"}, 400, "level"),
        ({"area_ids": ["A0"], "horizons": [10**30]}, 400, "horizons"),
        ({"area_ids": ["A0"], "as_of": "2031-01-01"}, 422, "outside the data"),
        ({"level": "province", "parent_id": "S0"}, 422, "level must be one of"),
        ({"area_ids": GRIDS}, 413, "cap"),
        ({}, 422, "area_ids"),
    ]
    for body, status, words in cases:
        r = server.post("score", body)
        assert r.status_code == status, (body, r.text)
        assert words in r.text, (body, r.text)
    r = httpx.post(f"{server.url}/score", content=b"{not json",
                   headers={"Authorization": f"Bearer {server.keys['city']}",
                            "Content-Type": "application/json"})
    assert r.status_code == 400 and "Invalid JSON" in r.text


# Each endpoint that takes an as_of, with the rest of a valid body.
AS_OF_BODIES = {"score": {"area_ids": ["A0"]}, "explain": {"area_id": "A0"},
                "forecast": {"unit_id": "city"}, "warnings": {}, "data_quality": {},
                "safety_index": {"area_ids": ["S0"]}}
AWKWARD_DAYS = ("2025-12-22T00:00:00Z", "1677-09-21", "2262-04-12", "2" * 300_000,
                "2023-12-18T00:00:00+08:00", "0000-00-00", "9999-99-99")


@pytest.mark.parametrize("endpoint", sorted(AS_OF_BODIES))
def test_awkward_as_of_values_are_refused_naming_the_field(server, endpoint):
    for day in AWKWARD_DAYS:
        r = server.post(endpoint, AS_OF_BODIES[endpoint] | {"as_of": day})
        assert 400 <= r.status_code < 500, (endpoint, day[:40], r.text[:300])
        assert "as_of" in r.text, (endpoint, day[:40], r.text[:300])


def test_bodies_that_are_not_json_or_too_large_are_refused_before_parsing(server):
    auth = {"Authorization": f"Bearer {server.keys['city']}"}
    for media in ("multipart/form-data; boundary=x", "application/vnd.bentoml+pickle",
                  "text/csv"):
        r = httpx.post(f"{server.url}/score", content=b'{"area_ids": ["A0"]}',
                       headers=auth | {"Content-Type": media}, timeout=60)
        assert r.status_code == 415 and "application/json" in r.json()["error"], (media, r.text)
    big = b'{"area_ids": ["A0"], "as_of": "' + b"2" * 2_000_000 + b'"}'  # cap: 1 MB here
    r = httpx.post(f"{server.url}/score", content=big, timeout=60,
                   headers=auth | {"Content-Type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the gate counts what arrives
        for _ in range(40):
            yield b"2" * 50_000

    r = httpx.post(f"{server.url}/explain", content=chunks(), timeout=60,
                   headers=auth | {"Content-Type": "application/json"})
    assert r.status_code == 413
    rows = server.store.audit_rows(limit=5)
    assert {413, 415} <= set(rows["status"])


def test_refusals_name_what_was_asked_never_the_ids_under_it(server):
    for endpoint in ("score", "safety_index"):
        r = server.post(endpoint, {"level": "grid", "parent_id": "S1"}, key="A0")
        assert r.status_code == 403
        assert "S1" in r.json()["error"] and "A4" not in r.text and "A5" not in r.text


def test_model_info_of_an_area_key_says_nothing_of_the_city(server):
    city = server.post("model_info").json()
    street = server.post("model_info", key="S1").json()
    assert street["levels"] == {"grid": 2, "community": 1, "street": 1}
    assert street["backtest"] == {} and city["backtest"]
    assert "new" not in street["warnings_job"]
    assert street["model_version"] == city["model_version"]


def test_every_path_but_the_public_ones_needs_a_key_and_is_audited(server):
    before = settled_audit_count(server)
    assert httpx.get(f"{server.url}/metrics", timeout=60).status_code == 401
    r = httpx.get(f"{server.url}/metrics", timeout=60,
                  headers={"Authorization": f"Bearer {server.keys['S1']}"})
    assert r.status_code == 200 and "bentoml" in r.text
    assert httpx.get(f"{server.url}/nowhere", timeout=60).status_code == 401
    for public in ("readyz", "livez", "docs.json", "dashboard/"):
        assert httpx.get(f"{server.url}/{public}", timeout=60).status_code == 200, public
    assert settled_audit_count(server, before + 3) == before + 3
    rows = server.store.audit_rows(limit=3)
    assert list(zip(rows["endpoint"], rows["status"], strict=True)) == [
        ("metrics", 401), ("metrics", 200), ("nowhere", 401)]


def settled_audit_count(server, expected: int | None = None) -> int:
    """Audit rows are written just after each answer is sent: wait for the count to settle."""
    deadline = time.monotonic() + 15
    count = -1
    while time.monotonic() < deadline:
        now = len(server.store.audit_rows())
        if (expected is None and now == count) or now == expected:
            return now
        count = now
        time.sleep(0.5)
    return count


def test_every_request_is_audited(server):
    before = settled_audit_count(server)
    calls = [("score", {"area_ids": ["A0"]}, "S0", 200), ("score", {"area_ids": ["A5"]}, "S0", 403),
             ("score", {"area_ids": []}, "city", 400), ("model_info", {}, None, 401),
             ("explain", {"area_id": "A1"}, "C0", 200), ("score", {"area_ids": ["x"]}, "city", 422)]
    for endpoint, body, key, status in calls:
        assert server.post(endpoint, body, key=key).status_code == status
    assert settled_audit_count(server, before + len(calls)) == before + len(calls)
    rows = server.store.audit_rows().iloc[before:]
    version = load_champion(server.settings, "tiny").version
    keys = {k.key_id: k.scope for k in server.store.list_keys()}
    for (endpoint, body, key, status), row in zip(calls, rows.itertuples(), strict=True):
        assert (row.endpoint, row.status) == (endpoint, status)
        assert pd.isna(row.key_id) if key is None else keys[row.key_id] == key
        if status in (200, 403, 422):
            assert row.model_version == version
            assert list(row.areas) == body.get("area_ids", [body.get("area_id")])
    text = server.store.audit_rows().to_json(date_format="iso")
    assert "rg_" not in text  # no key material in the log


def test_no_5xx_under_schemathesis(server):
    """Generated requests against the OpenAPI document: 4xx at worst, never 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{server.url}/docs.json")
    headers = {"Authorization": f"Bearer {server.keys['analyst']}"}
    seen: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/livez", "/readyz", "/metrics"):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(base_url=server.url, headers=headers, timeout=60)
            seen.append(response.status_code)
            assert response.status_code < 500, (case.path, case.body, response.text[:300])

        check()
        # What the fuzzing must also try: strings far past every bound, time zones, and the
        # edges of what pandas can hold, in every string field of the body.
        for body, refused in awkward_bodies(operation.definition.raw):
            response = operation.Case(body=body, media_type="application/json").call(
                base_url=server.url, headers=headers, timeout=60)
            seen.append(response.status_code)
            lowest = 400 if refused else 200  # an edge date may be a valid filter (no match)
            assert lowest <= response.status_code < 500, (operation.path, str(body)[:200],
                                                          response.text[:300])
    assert len(seen) >= 6 * 10


def awkward_bodies(definition: dict) -> list[tuple[dict, bool]]:
    """For each string (or list of strings) field of the operation's JSON body, bodies holding
    a 300,000-character string or a time-zone-aware time (both must be refused), and the edges
    of pandas' dates (refused, or answered, never a 5xx)."""
    schema = definition.get("requestBody", {}).get("content", {}).get(
        "application/json", {}).get("schema", {})
    fields = schema.get("properties", {})
    values = [("2" * 300_000, True), ("2025-12-22T00:00:00Z", True), ("1677-09-21", False),
              ("2262-04-12", False)]
    bodies = []
    for name, spec in fields.items():
        kinds = {spec.get("type"), *(s.get("type") for s in spec.get("anyOf", []))}
        for value, refused in values:
            if "string" in kinds:
                bodies.append(({name: value}, refused))
            elif "array" in kinds:
                bodies.append(({name: [value]}, refused))
    return bodies


def test_a_promotion_is_picked_up_without_restart_or_failed_requests(server, tmp_path):
    old = server.post("model_info").json()["model_version"]
    statuses: list[int] = []
    stop_flag = threading.Event()

    def hammer():
        with httpx.Client(timeout=60) as client:
            while not stop_flag.is_set():
                r = client.post(f"{server.url}/score", json={"area_ids": ["A0", "A1"]},
                                headers={"Authorization": f"Bearer {server.keys['city']}"})
                statuses.append(r.status_code)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        record = train_and_promote(write_experiment(tmp_path, SANE), server.settings, "better")
        assert record["promoted"], record
        deadline = time.monotonic() + 90
        while server.post("model_info").json()["model_version"] == old:
            assert time.monotonic() < deadline, "the promotion was not picked up"
            time.sleep(0.5)
    finally:
        stop_flag.set()
        thread.join()
    assert statuses and set(statuses) == {200}
    assert server.post("score", {"area_ids": ["A0"]}).json()["model_version"] == \
        str(record["challenger_version"])


def test_starts_from_the_last_good_model_when_the_registry_is_down(server):
    served = server.post("model_info").json()["model_version"]
    log = server.log.with_name("registry_down.log")
    process, url = start(server.experiment, server.settings, log,
                         MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    try:
        r = httpx.post(f"{url}/model_info", json={},
                       headers={"Authorization": f"Bearer {server.keys['city']}"}, timeout=60)
        assert r.status_code == 200
        assert r.json()["source"] == "local copy" and r.json()["model_version"] == served
        r = httpx.post(f"{url}/score", json={"area_ids": ["A0"]},
                       headers={"Authorization": f"Bearer {server.keys['city']}"}, timeout=60)
        assert r.status_code == 200 and np.isfinite(r.json()["scores"][0]["expected_count"])
    finally:
        stop(process)


def test_areas_lists_units_in_scope_with_parents(server):
    r = server.post("areas", {"level": "grid"}, key="S1")
    assert r.status_code == 200, r.text
    areas = r.json()["areas"]
    assert [a["area_id"] for a in areas] == ["A4", "A5"]
    assert areas[0]["parents"] == {"community": "C2", "street": "S1", "district": "D0"}
    assert areas[0]["geometry"] is None  # the tiny city has no shapes
    streets = server.post("areas", {"level": "street", "parent_id": "D0"}).json()["areas"]
    assert [(a["area_id"], a["parents"]) for a in streets] == [
        ("S0", {"district": "D0"}), ("S1", {"district": "D0"})]
    assert server.post("areas", {"level": "grid", "parent_id": "S0"}, key="S1").status_code == 403
    assert server.post("areas", {"level": "ward"}).status_code == 422


def test_warning_lifecycle_through_the_api(server):
    deadline = time.monotonic() + 60
    while not (found := server.post("warnings", key="S1").json()["warnings"]):
        assert time.monotonic() < deadline, "no warnings were issued"
        time.sleep(1)
    target = found[-1]["warning_id"]
    r = server.post("warning_action", {"warning_id": target, "action": "close"}, key="analyst")
    assert r.status_code == 422, r.text  # an issued warning is acknowledged first
    r = server.post("warning_action", {"warning_id": target, "action": "acknowledge"},
                    key="S1")
    assert r.status_code == 403  # viewers read, analysts act
    r = server.post("warning_action", {"warning_id": target, "action": "dismiss"},
                    key="analyst")
    assert r.status_code == 422 and "reason" in r.text.lower()
    r = server.post("warning_action", {"warning_id": target, "action": "dismiss",
                                       "reason": "false_alarm", "note": "checked on site"},
                    key="analyst")
    assert r.status_code == 200, r.text
    assert r.json()["warning"]["status"] == "dismissed"
    assert r.json()["history"][-1]["who"].startswith("key:")
    active = {w["warning_id"] for w in server.post("warnings", key="S1").json()["warnings"]}
    assert target not in active  # dismissed warnings are no longer active
    r = server.post("warning_action", {"warning_id": "nope", "action": "acknowledge"},
                    key="analyst")
    assert r.status_code == 422


def test_backtest_forecasts_become_scorecard_vintages(server):
    from riskgrid.experiment import load_experiment
    from serving.ledger import read_outcomes, record_backtest_file, scorecard
    from training import BACKTEST_FILE

    exp = load_experiment(server.experiment)
    recorded = record_backtest_file(server.store, exp, server.settings)
    assert record_backtest_file(server.store, exp, server.settings) == []  # once only
    card = scorecard(server.store, exp.name, read_outcomes(exp, server.settings),
                     exp.warnings.alert_budget)
    backtest = card[card["source"] == "backtest"]
    origins = pd.read_parquet(exp.output_dir(server.settings) / BACKTEST_FILE)["period"]
    assert len(recorded) == origins.nunique() >= 7  # one vintage per backtest week
    assert backtest["vintage_id"].nunique() == len(recorded)
    assert backtest["mae"].notna().all() and backtest["n"].gt(0).all()


def test_served_forecasts_are_in_the_ledger_once(server):
    deadline = time.monotonic() + 90
    while server.post("model_info").json()["warnings_job"]["state"] == "running":
        assert time.monotonic() < deadline, "the warnings job did not finish"
        time.sleep(1)
    info = server.post("model_info").json()
    assert info["warnings_job"]["state"] == "done"
    issued = server.store.vintages(experiment="tiny", source="api",
                                   model_version=info["model_version"])
    assert list(issued["as_of"].astype(str)) == [info["as_of"]]
    assert issued["forecasts"].iloc[0] == 6 * 2  # every grid, both horizons


def test_drivers_say_what_the_feature_usually_is(server):
    r = server.post("explain", {"area_id": "A2", "horizon": 1}, key="S0")
    assert r.status_code == 200, r.text
    panel = read_table(server.settings.data_dir / "tiny" / "features", "panel")
    latest = panel[panel[C.PERIOD] == panel[C.PERIOD].max()]
    for d in r.json()["contributions"]:
        if d["feature"] in latest.columns and latest[d["feature"]].notna().any():
            # the mean over every grid of the city in the period, not only the key's scope
            assert d["typical"] == pytest.approx(latest[d["feature"]].astype(float).mean()), d


def test_past_periods_come_from_the_ledger_scoped_and_audited(server):
    from serving.ledger import record_vintage

    past = "2023-09-04"
    if past not in set(server.store.vintages(experiment="tiny", source="batch")["as_of"]):
        frame = pd.DataFrame({"area_id": GRIDS, "expected_count": [1.0, 2, 3, 4, 5, 6],
                              "risk_probability": [0.6, 0.1, 0.2, 0.3, 0.4, 0.5]})
        record_vintage(server.store, frame.assign(horizon=1, low=0.0, high=8.0,
                                                  risk_level="blue"),
                       source="batch", experiment="tiny", as_of=past, model_version="then",
                       fingerprint="fp")
    periods = server.post("periods", {}, key="S0").json()
    assert periods["as_of"] == "2023-12-25"
    entry = next(p for p in periods["periods"] if p["as_of"] == past)
    assert (entry["source"], entry["model_version"], entry["forecasts"]) == ("batch", "then", 6)
    assert [p["as_of"] for p in periods["periods"]] == sorted(
        (p["as_of"] for p in periods["periods"]), reverse=True)

    before = settled_audit_count(server)
    # a date inside the week resolves to the week; ranks are among all six grids of then
    r = server.post("ledger_scores", {"as_of": "2023-09-06", "level": "grid", "parent_id": "S0"},
                    key="S0")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == past and body["vintage"]["vintage_id"] == entry["vintage_id"]
    assert [(s["area_id"], s["rank"]) for s in body["scores"]] == [
        ("A0", 1), ("A1", 6), ("A2", 5), ("A3", 4)]
    assert body["scores"][0]["interval"] == [0.0, 8.0] and body["scores"][0]["drivers"] == []
    calls = [({"as_of": past, "area_ids": ["A5"]}, "S0", 403),
             ({"as_of": "2023-02-06", "area_ids": ["A0"]}, "S0", 422),
             ({"as_of": past, "area_ids": ["A0"], "horizon": 2}, "S0", 422)]
    for payload, key, status in calls:
        answer = server.post("ledger_scores", payload, key=key)
        assert answer.status_code == status, answer.text
    assert "/periods" in server.post("ledger_scores", calls[1][0], key="S0").json()["error"]
    assert settled_audit_count(server, before + 5) == before + 5
    rows = server.store.audit_rows().iloc[before:]
    assert list(rows["endpoint"]) == ["ledger_scores"] * 5
    assert list(rows["status"]) == [200, 403, 422, 422, 422]
    assert list(rows["areas"].iloc[0]) == ["A0", "A1", "A2", "A3"]
