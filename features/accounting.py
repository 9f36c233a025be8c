"""Row accounting: every input row ends accepted, quarantined with a reason, or a duplicate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contracts import plain_text
from features.privacy import mask_frame, mask_text, strip_personal
from riskgrid import vocabulary as C

COUNT_KEYS = ("rows_in", "accepted", "quarantined", "duplicates", "merged")


@dataclass(frozen=True)
class SourceResult:
    """One source after cleaning. ``quarantine`` holds the rejected rows as text, with reasons."""

    clean: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    duplicates: int
    merged: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Row counts; ``accepted`` counts rows, ``merged`` those folded into an earlier row."""
        return {"rows_in": self.rows_in, "accepted": len(self.clean) + self.merged,
                "quarantined": len(self.quarantine), "duplicates": self.duplicates,
                "merged": self.merged}


def blank_rows(raw: pd.DataFrame) -> pd.Series:
    """Rows whose every field is empty (each is quarantined, never a duplicate of another)."""
    blank = np.ones(len(raw), dtype=bool)
    for i in range(raw.shape[1]):
        column = raw.iloc[:, i]
        plain = plain_text(column)  # a day's few rows: value by value
        if plain is None:
            text = column.astype("string").str.strip()
            blank &= (text.isna() | (text == "")).to_numpy(dtype=bool)
        else:
            blank &= np.array([v is None or v == "" for v in plain], dtype=bool)
    return pd.Series(blank, index=raw.index)


BLANK_REASON = "the row is empty (every field is blank); remove it from the export"


def account(typed: pd.DataFrame, reasons: pd.Series, duplicates: pd.Series,
            mapped: pd.DataFrame, merged: pd.Series | None = None,
            personal: frozenset[str] = frozenset()) -> SourceResult:
    """Split rows into accepted, quarantined and duplicates; the three always add up.

    Args:
        typed: parsed rows, indexed by source row number.
        reasons: per row, why it breaks the contract ("" if it does not).
        duplicates: per row, whether it repeats an earlier row exactly.
        mapped: the rows as read (project column names), for the quarantine file.
        merged: per accepted row, whether it was folded into an earlier row of the same
            incident (accepted, but not a row of the clean table).
        personal: values of the source's personal columns, masked wherever they appear in
            the quarantine (with anything shaped like an id number or a phone number), so a
            shifted column does not carry them there in clear.
    """
    merged = pd.Series(False, index=typed.index) if merged is None else merged
    rejected = (reasons != "") & ~duplicates
    accepted = (reasons == "") & ~duplicates & ~merged
    shown = mask_frame(strip_personal(mapped.loc[rejected]).astype("string"), personal)
    said = [mask_text(reason, personal) for reason in reasons[rejected]]
    quarantine = pd.concat(
        [pd.DataFrame({C.ROW: shown.index.to_numpy(), "reason": said}),
         shown.reset_index(drop=True)], axis=1)
    result = SourceResult(clean=typed.loc[accepted], quarantine=quarantine,
                          rows_in=len(typed), duplicates=int(duplicates.sum()),
                          merged=int((merged & (reasons == "") & ~duplicates).sum()))
    counts = result.counts
    if counts["rows_in"] != counts["accepted"] + counts["quarantined"] + counts["duplicates"]:
        raise AssertionError(f"row accounting does not balance: {counts}")
    return result


def total(results: dict[str, dict[str, int]]) -> dict[str, int]:
    return {key: sum(r[key] for r in results.values()) for key in COUNT_KEYS}
