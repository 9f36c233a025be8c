"""The data alarms as the service and the pack give them (serving/data_quality.py): which areas
an alarm concerns, the flag on each score, and a plain sentence in both languages for every
kind of alarm."""

from __future__ import annotations

import pandas as pd
import pytest

from features.quality import KINDS, source_volumes
from riskgrid.experiment import DataQualityConfig
from serving.data_quality import DataQuality, sentences
from tests.features.test_quality import WEEKS, exports

NAMES = {"D2": "江都区", "D2S1": "仙女街道"}


@pytest.fixture(scope="module")
def quality() -> DataQuality:
    """D2's 110 police calls silent for four weeks from week 30."""
    clean, _ = exports({("D2", "police", w): 0.0 for w in range(30, 34)})
    return DataQuality(source_volumes(clean, {}, WEEKS, "week"), DataQualityConfig(), "week",
                       NAMES)


def test_an_alarm_concerns_its_area_the_areas_inside_it_and_the_units_above(quality):
    (alarm,) = quality.at(WEEKS[31])
    assert alarm["sentence_en"] == (
        "Incidents from 110 police calls in 江都区: no records for 2 weeks from 2023-07-31, "
        f"where about {alarm['usual']:.0f} a week came before; these zeros are missing data, "
        "not a quiet area.")
    assert alarm["sentence_zh"].startswith("江都区的110警情事件：自2023-07-31起连续2周没有记录")
    scores = quality.flag([{"area_id": a} for a in ("D2S1G1", "D2S1", "D2", "city", "D1S1G1",
                                                     "D3")], WEEKS[31])
    assert [len(s["data_alarms"]) for s in scores] == [1, 1, 1, 1, 0, 0]
    assert scores[0]["data_alarms"][0] == {"kind": "late", "source": "incidents",
                                           "channel": "police", "area_id": "D2",
                                           "since": "2023-07-31", "until": "2023-08-07"}
    assert quality.about("D1", WEEKS[31]) == [] and len(quality.about("D2S1G2", WEEKS[31])) == 1
    assert quality.at(WEEKS[20]) == []  # before it


def test_no_volumes_means_no_alarms():
    empty = DataQuality(None, DataQualityConfig(), "week", {})
    assert empty.at(pd.Timestamp("2024-01-01")) == []
    assert empty.flag([{"area_id": "A1"}], pd.Timestamp("2024-01-01")) == [
        {"area_id": "A1", "data_alarms": []}]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_alarm_is_said_in_plain_words_in_both_languages(kind):
    alarm = {"kind": kind, "source": None if kind == "no_data" else "incidents",
             "channel": "hotline_12345" if kind in ("late", "drop", "jump") else None,
             "column": "category" if "category" in kind or kind == "recoding" else None,
             "category": "dispute.neighbour" if "category" in kind or kind == "recoding"
             else None, "value": "邻里矛盾" if kind in ("recoding",) else None,
             "area_id": "D2S1" if kind == "no_data" else "D2", "since": "2025-03-17",
             "periods": 3, "observed": 12.0 if kind in ("drop", "jump") else 0.0,
             "usual": 60.0, "records": 40.0}
    said = sentences(alarm, NAMES, "week", 26)
    for text in said.values():
        assert "2025-03-17" in text and "None" not in text and "nan" not in text
    if kind in ("late", "drop", "no_data"):
        assert ("仙女街道" if kind == "no_data" else "江都区") in said["sentence_zh"]
    if kind in ("category_gone", "recoding"):
        assert "邻里纠纷" in said["sentence_zh"] and "[recode.category]" in said["sentence_en"]
    assert not any(word in said["sentence_zh"] for word in ("quarantine", "MAD", "median"))
