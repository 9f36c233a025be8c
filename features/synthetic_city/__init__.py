"""The synthetic city: seeded exports of a 600-grid city with planted, documented mechanisms."""

from __future__ import annotations

from features.synthetic_city.areas import build_areas
from features.synthetic_city.city import SyntheticCity, synthesize_city
from features.synthetic_city.config import CityConfig
from features.synthetic_city.export import write_city
from features.synthetic_city.truth import drivers

__all__ = ["CityConfig", "SyntheticCity", "build_areas", "drivers", "synthesize_city",
           "write_city"]
