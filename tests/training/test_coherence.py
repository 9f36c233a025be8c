"""Bottom-up sums of grid forecasts."""

from __future__ import annotations

import pandas as pd

from riskgrid import vocabulary as C
from training.coherence import bottom_up

AREAS = pd.DataFrame({C.AREA_ID: ["a", "b", "c"], C.DISTRICT_ID: ["D1", "D1", "D2"]})


def test_grid_forecasts_add_up_to_each_district_and_the_city():
    predictions = pd.DataFrame({
        "fold": 1, "horizon": [1, 1, 1, 2], C.AREA_ID: ["a", "b", "c", "a"],
        C.PERIOD: pd.Timestamp("2024-01-01"), "model_count": [1.5, 2.0, 4.0, 9.0],
        "y": [1, 3, 5, 9]})
    district = bottom_up(predictions, AREAS, "district").set_index("unit_id")
    assert district.loc["D1", "model_count"] == 3.5 and district.loc["D1", "y"] == 4
    city = bottom_up(predictions, AREAS, "city")
    assert city["model_count"].tolist() == [7.5]  # horizon 2 is not mixed in
