"""Pseudonymization: personal fields become a keyed hash at ingest and are then dropped."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd

from riskgrid import vocabulary as C


def _normalize(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.upper()
    return text.str.replace(r"[\s\-()]", "", regex=True).fillna("")


def petitioner_keys(frame: pd.DataFrame, secret: bytes) -> pd.Series:
    """One stable pseudonym per petitioner from the personal fields present in ``frame``.

    The id number identifies a person best; without it, name and phone together do. Rows with
    no personal field get no key. The same person always gets the same key under the same
    secret, so repeat-petitioner features work on keys, while the key cannot be reversed or
    recomputed without the secret.
    """
    ident = _normalize(frame[C.ID_NUMBER]) if C.ID_NUMBER in frame else None
    fallback = pd.Series("", index=frame.index, dtype="string")
    for column in (C.NAME, C.PHONE):
        if column in frame:
            fallback = fallback + "|" + _normalize(frame[column])
    basis = fallback if ident is None else ident.where(ident != "", "nf" + fallback)
    has_any = basis.str.replace("|", "", regex=False).str.replace("nf", "", regex=False) != ""

    def key(text: str) -> str:
        return "p_" + hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()[:20]

    keys = basis.map(key, na_action="ignore").astype(object)
    return keys.where(has_any, None)


def strip_personal(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without any personal column."""
    return frame.drop(columns=[c for c in C.PERSONAL_FIELDS if c in frame.columns])
