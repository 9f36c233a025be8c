"""The [training] section: the hotspot area is read in any usual unit, bad ones named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from riskgrid.experiment import TrainingConfig


@pytest.mark.parametrize(("text", "km2"), [
    ("0.25 sq mi", 0.6474970), ("0.65 km2", 0.65), ("65 ha", 0.65), ("1e6 m2", 1.0),
    ("360000 sq ft", 0.0334451), (" 160 acres ", 0.6474970), ("0.25 SQ MI", 0.6474970),
])
def test_the_hotspot_area_reads_in_km2(text, km2):
    assert TrainingConfig(hotspot_area=text).hotspot_km2 == pytest.approx(km2, rel=1e-6)


def test_no_hotspot_area_means_no_fixed_area_metrics():
    assert TrainingConfig().hotspot_km2 is None


@pytest.mark.parametrize("text", ["0.25", "quarter sq mi", "-1 km2", "0 km2", "2 furlongs"])
def test_a_bad_hotspot_area_is_one_sentence_naming_the_field(text):
    with pytest.raises(ValidationError, match="hotspot_area must be a positive number and a "
                                              r"unit, such as \"0.25 sq mi\""):
        TrainingConfig(hotspot_area=text)
