"""Fixtures shared by the tests of the clean dataset's daily appends and the panel's updates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from features.synthetic_city import write_city
from features.synthetic_city.daily import cut_at
from tests.features.test_synthetic_city import SMALL

# A Sunday: the day completes the week of 3 October, and it brings a report of an incident
# of more than a week before (a late report, which changes an earlier week's outcome).
DAY = date(2022, 10, 9)


@pytest.fixture(scope="session")
def cut_on(tmp_path_factory):
    """The small synthetic city's exports cut at a day: before/, day/ and through/."""
    root = tmp_path_factory.mktemp("daily")
    write_city(root / "city", config=SMALL)
    done: dict[date, Path] = {}

    def cut(day: date) -> Path:
        if day not in done:
            done[day] = cut_at(root / "city", day, root / f"cut-{day}")["before"].parent
        return done[day]
    return cut


@pytest.fixture(scope="session")
def cut(cut_on) -> Path:
    return cut_on(DAY)
