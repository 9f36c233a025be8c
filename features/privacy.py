"""Pseudonymization: personal fields become a keyed hash at ingest and are then dropped; what
is written about rejected rows (reasons, the quarantine) has personal data masked."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

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


# What looks like personal data wherever it appears: resident id numbers (18 characters, the
# last a digit or X, or the old 15 digits) and phone numbers (mainland mobiles, with or without
# +86 and separators; landlines with an area code). Digit runs longer than these are left alone.
_EDGE_L, _EDGE_R = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
PERSONAL_PATTERNS = (
    ("[id number]", re.compile(_EDGE_L + r"(?:\d{17}[\dXx]|\d{15})" + _EDGE_R)),
    ("[phone]", re.compile(_EDGE_L + r"(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}" + _EDGE_R)),
    ("[phone]", re.compile(r"(?<![0-9])(?:\(0\d{2,3}\)\s?|0\d{2,3}-)\d{7,8}" + _EDGE_R)),
)
MASK = "[personal data]"
_QUOTED = re.compile(r"'([^']*)'")


def personal_values(frame: pd.DataFrame) -> frozenset[str]:
    """Every value of the personal columns present in ``frame`` (stripped, non-empty)."""
    values: set[str] = set()
    for column in C.PERSONAL_FIELDS:
        if column in frame:
            text = frame[column].dropna().astype(str).str.strip()
            values.update(text[text != ""])
    return frozenset(values)


def mask_text(text: str, known: Iterable[str] = frozenset()) -> str:
    """``text`` with id numbers and phones masked, and any quoted value or the whole text that
    is a value of a personal column (``known``) replaced by a mask."""
    if not isinstance(text, str) or not text:
        return text
    known = known if isinstance(known, (set, frozenset)) else frozenset(known)
    if text.strip() in known:
        return MASK
    if known:
        text = _QUOTED.sub(lambda m: f"'{MASK}'" if m.group(1).strip() in known else m.group(0),
                           text)
    for mask, pattern in PERSONAL_PATTERNS:
        text = pattern.sub(mask, text)
    return text


def mask_frame(frame: pd.DataFrame, known: Iterable[str] = frozenset()) -> pd.DataFrame:
    """Every text cell of ``frame`` through :func:`mask_text`."""
    known = frozenset(known)
    return frame.apply(lambda column: column.map(lambda v: mask_text(v, known),
                                                 na_action="ignore"))
