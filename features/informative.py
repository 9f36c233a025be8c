"""What one city's data can inform: declared covariates, families and spans, and the features
that are empty or constant for it (left out of training, and said so)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalogue import FeatureSpec, stream_words
from features.layout import Layout

DECLARED_FILE = "declared.json"
Span = tuple[str, str, bool, bool]  # first day, last day, first inferred, last inferred


@dataclass(frozen=True)
class Declared:
    """What the mappings and the experiment declared beyond the built-in vocabulary.

    Attributes:
        covariates: static covariates of the areas: feature name -> (English, Chinese).
        families: category families: code -> (English, Chinese).
        spans: per kind ("incidents", "petitions"), the first and last day each source covers
            and whether each was inferred; a period outside any span is missing for that
            kind's counts. A declared day bounds whole periods; an inferred one (the first or
            last record) covers the period it falls in, so a sparse source loses no period.
    """

    covariates: dict[str, tuple[str, str]] = field(default_factory=dict)
    families: dict[str, tuple[str, str]] = field(default_factory=dict)
    spans: dict[str, list[Span]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"covariates": self.covariates, "families": self.families, "spans": self.spans}

    @classmethod
    def read(cls, folder: Path) -> Declared:
        """The declarations of a clean snapshot (none for snapshots written without them)."""
        path = folder / DECLARED_FILE
        if not path.is_file():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(covariates={k: tuple(v) for k, v in raw["covariates"].items()},
                   families={k: tuple(v) for k, v in raw["families"].items()},
                   spans={k: [tuple(s) for s in v] for k, v in raw["spans"].items()})

    def labelled(self, spec: FeatureSpec) -> FeatureSpec:
        """``spec`` with a declared family's own words in place of its code."""
        for code, (en, zh) in self.families.items():
            generic_en, generic_zh = stream_words(code)
            if generic_en in spec.en or generic_zh in spec.zh:
                return replace(spec, en=spec.en.replace(generic_en, en),
                               zh=spec.zh.replace(generic_zh, zh))
        return spec


def covered(layout: Layout, spans: list[Span]) -> np.ndarray:
    """Per period, whether every span covers it (first day, last day inclusive)."""
    starts = layout.periods
    ends = layout.cutoffs()  # exclusive
    inside = np.ones(len(starts), bool)
    for first, last, first_inferred, last_inferred in spans:
        begin, stop = pd.Timestamp(first), pd.Timestamp(last) + pd.Timedelta(days=1)
        inside &= (ends > begin) if first_inferred else (starts >= begin)
        inside &= (starts < stop) if last_inferred else (ends <= stop)
    return inside


def uncovered_as_missing(values: np.ndarray, layout: Layout,
                         spans: list[Span]) -> np.ndarray:
    """Counts of periods some source does not cover become NaN (missing), not zero."""
    if not spans:
        return values
    return np.where(covered(layout, spans)[None, :], values, np.nan).astype(values.dtype)


def informative(specs: list[FeatureSpec], values: dict[str, np.ndarray]
                ) -> tuple[list[FeatureSpec], dict[str, list[str]]]:
    """The features that vary, and by family the ones left out (all missing, or constant).

    A feature that never varies in this city's data cannot inform a model; training reads
    only the catalogue, so leaving it out of the catalogue leaves it out of training.
    """
    kept, left_out = [], {}
    for spec in specs:
        column = np.asarray(values[spec.name])
        if column.dtype.kind != "f":
            column = column.astype(np.float64)
        finite = np.isfinite(column)
        # Without a float64 copy: min and max are exact in the values' own type.
        if finite.any() and np.min(column, where=finite, initial=np.inf) < \
                np.max(column, where=finite, initial=-np.inf):
            kept.append(spec)
        else:
            why = "empty" if not finite.any() else "constant"
            left_out.setdefault(spec.family, []).append(f"{spec.name} ({why})")
    return kept, left_out


def family_summary(left_out: dict[str, list[str]], catalogue: pd.DataFrame) -> list[str]:
    """One line per family with features left out: how many, of how many, which."""
    total = catalogue["family"].value_counts() if len(catalogue) else pd.Series(dtype=int)
    lines = []
    for family, names in sorted(left_out.items()):
        of = len(names) + int(total.get(family, 0))
        state = "empty or constant" if len(names) < of else "all empty or constant"
        lines.append(f"{family}: {len(names)} of {of} features {state}, left out of training: "
                     + ", ".join(names))
    return lines
