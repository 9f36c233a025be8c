"""The [safety_index] and [equity] sections: defaults, and one sentence for a bad weight."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskgrid import InputError, load_experiment
from riskgrid.experiment import SAFETY_INDICATORS

BASE = """name = "tiny"
sources = {}
[areas]
path = "areas.csv"
"""


def experiment(folder: Path, extra: str = ""):
    path = folder / "tiny.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return load_experiment(path)


def test_equal_weights_and_a_quarter_of_weeks_by_default(tmp_path):
    exp = experiment(tmp_path)
    assert [exp.safety_index.weight(n) for n in SAFETY_INDICATORS] == [1.0] * 11
    assert exp.safety_index.window == 13
    assert exp.equity.officer_channels == ["grid_officer", "city_management"]
    chosen = experiment(tmp_path, '[safety_index]\nweights = { collective = 3, livelihood = 0 }'
                                  '\nwindow = 4\n[equity]\nofficer_channels = ["patrol"]\n')
    assert (chosen.safety_index.weight("collective"), chosen.safety_index.weight("livelihood"),
            chosen.safety_index.weight("dispute")) == (3.0, 0.0, 1.0)
    assert chosen.safety_index.window == 4 and chosen.equity.officer_channels == ["patrol"]


@pytest.mark.parametrize(("text", "words"), [
    ("weights = { colective = 2 }", "unknown indicator 'colective'; the indicators are "
                                    "law_enforcement, livelihood"),
    ("weights = { dispute = -1 }", "each weight is a number of at least 0"),
    ("weights = { " + ", ".join(f"{n} = 0" for n in SAFETY_INDICATORS) + " }",
     "at least one indicator needs a weight above 0"),
    ("window = 0", "safety_index.window"),
    ("wieghts = {}", "safety_index.wieghts"),
])
def test_a_bad_section_is_one_sentence_naming_the_field(tmp_path, text, words):
    with pytest.raises(InputError) as caught:
        experiment(tmp_path, f"[safety_index]\n{text}\n")
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert "field 'safety_index" in message
