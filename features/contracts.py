"""Data contracts of the three inputs, and the parsing that turns text rows into typed rows.

The pandera models are the contract of the clean tables (docs/data.md lists every column).
:func:`conform` parses a mapped source frame against a model and gives each row that breaks it
one reason naming the column, so the row can be quarantined instead of failing the run.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from riskgrid import vocabulary as C


class IncidentsSchema(pa.DataFrameModel):
    """Clean incidents (事件): one row per hotline case, patrol report, police call..."""

    incident_id: Series[str] = pa.Field(unique=True)
    occurred_at: Series[pd.Timestamp]
    reported_at: Series[pd.Timestamp]
    # Built-in codes, or codes the source's mapping declares ([vocabulary]; checked at ingest).
    category: Series[str] = pa.Field(str_matches=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    family: Series[str] = pa.Field(str_matches=r"^[a-z0-9_]+$")
    channel: Series[str] = pa.Field(str_matches=r"^[a-z0-9_]+$")
    area_id: Series[str]
    x: Series[float] = pa.Field(nullable=True)
    y: Series[float] = pa.Field(nullable=True)
    people_involved: Series[int] = pa.Field(ge=0, le=100_000)
    status: Series[str] = pa.Field(isin=C.INCIDENT_STATUSES)
    closed_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    overdue: Series[bool]
    satisfaction: Series[float] = pa.Field(nullable=True, ge=1, le=5)
    # False for sources without a handling record (no open/closed lifecycle).
    handled: Series[bool]

    class Config:
        strict = True


class PetitionsSchema(pa.DataFrameModel):
    """Clean petitions (信访). Personal fields are replaced by ``petitioner_key`` at ingest."""

    petition_id: Series[str] = pa.Field(unique=True)
    filed_at: Series[pd.Timestamp]
    area_id: Series[str]
    topic: Series[str] = pa.Field(isin=tuple(C.PETITION_TOPICS))
    petitioner_count: Series[int] = pa.Field(ge=1, le=100_000)
    collective: Series[bool]
    repeat: Series[bool]
    escalation: Series[int] = pa.Field(isin=tuple(C.ESCALATION_LEVELS))
    status: Series[str] = pa.Field(isin=C.PETITION_STATUSES)
    closed_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    petitioner_key: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True


class AreasSchema(pa.DataFrameModel):
    """Clean areas: one row per grid (网格) with its parents and its base data (counts only)."""

    area_id: Series[str] = pa.Field(unique=True)
    area_name: Series[str]
    community_id: Series[str]
    community_name: Series[str]
    street_id: Series[str]
    street_name: Series[str]
    district_id: Series[str]
    district_name: Series[str]
    population: Series[float] = pa.Field(ge=0, nullable=True)
    floating_population: Series[float] = pa.Field(ge=0, nullable=True)
    households: Series[float] = pa.Field(ge=0, nullable=True)
    rental_units: Series[float] = pa.Field(ge=0, nullable=True)
    enterprises: Series[float] = pa.Field(ge=0, nullable=True)
    key_persons_corrections: Series[float] = pa.Field(ge=0, nullable=True)
    key_persons_mental_health: Series[float] = pa.Field(ge=0, nullable=True)
    key_persons_drug_rehab: Series[float] = pa.Field(ge=0, nullable=True)
    grid_officers: Series[float] = pa.Field(ge=0, nullable=True)
    area_km2: Series[float] = pa.Field(gt=0, nullable=True)
    urban: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    neighbours: Series[str] = pa.Field(nullable=True)
    geometry: Series[str] = pa.Field(nullable=True)
    centroid_x: Series[float] = pa.Field(nullable=True)
    centroid_y: Series[float] = pa.Field(nullable=True)

    class Config:
        strict = True


SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "incidents": IncidentsSchema, "petitions": PetitionsSchema, "areas": AreasSchema,
}
ID_COLUMN = {"incidents": C.INCIDENT_ID, "petitions": C.PETITION_ID, "areas": C.AREA_ID}

# Columns a source must provide (after mapping); the rest have defaults or are derived.
REQUIRED = {
    "incidents": (C.OCCURRED_AT, C.CATEGORY, C.CHANNEL),
    "petitions": (C.FILED_AT, C.AREA_ID, C.TOPIC),
    "areas": (C.AREA_ID,),
}
BOOL_TEXT = {
    "true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
    "y": True, "n": False, "是": True, "否": False, "t": True, "f": False,
}

_CHECK_MESSAGES = {
    "greater_than_or_equal_to": "must be at least {min_value}",
    "greater_than": "must be above {min_value}",
    "less_than_or_equal_to": "must not be above {max_value}",
    "in_range": "must lie between {min_value} and {max_value}",
    "isin": "is not one of the allowed values",
    "str_matches": "is not a code (lower-case letters, digits and _; categories FAMILY.SUB)",
}


def conform(frame: pd.DataFrame, table: str,
            filled_later: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.Series]:
    """Parse a mapped frame's text into the types of ``table``'s contract.

    Args:
        frame: mapped rows, text or typed values.
        table: "incidents", "petitions" or "areas".
        filled_later: columns that may still be missing (the caller fills them, e.g. the area
            of a row located by its coordinates).

    Returns:
        The typed frame (only the contract's columns that are present) and, per row, the first
        reason it breaks the contract ("" for rows that keep it).
    """
    schema = SCHEMAS[table].to_schema()
    first = np.full(len(frame), "", dtype=object)  # each row's first reason
    pending = np.ones(len(frame), dtype=bool)  # rows without a reason yet
    parsed = {}
    for name, column in schema.columns.items():
        if name not in frame.columns:
            continue
        values, bad = _parse(frame[name], str(column.dtype))
        bad = bad.to_numpy(dtype=bool)
        if not column.nullable and name not in filled_later:
            hit = values.isna().to_numpy(dtype=bool) & ~bad & pending
            first[hit] = f"column {name}: value is missing"
            pending &= ~hit
        flag = bad & pending
        if flag.any():
            first[flag] = [f"column {name}: '{v}' is not a valid {_kind(str(column.dtype))}"
                           for v in frame.loc[flag, name]]
            pending &= ~flag
        parsed[name] = values
    typed = pd.DataFrame(parsed, index=frame.index)
    reasons = pd.Series(first, index=frame.index, dtype=object)
    ok = reasons == ""
    check_schema = schema.select_columns([c for c in schema.columns if c in typed.columns])
    for col in check_schema.columns.values():
        col.nullable = True  # missing values were handled above
        col.unique = False  # repeated ids are reported against the row they repeat
        col.coerce = False
        col.dtype = None  # the parse above gave the types; a dtype check finds nothing more
    check_schema.unique = None
    try:
        if not _all_pass(check_schema, typed[ok]):  # pandera names each failure
            check_schema.validate(typed[ok], lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.dropna(subset=["index"])
        for _, case in cases.iterrows():
            index = case["index"]
            if reasons.at[index] == "":
                reasons.at[index] = _check_message(case, frame)
    return typed, reasons


# The checks the contracts use, on the present values: True where a value passes.
_PASSES = {
    "greater_than_or_equal_to": lambda s, st: s >= st["min_value"],
    "greater_than": lambda s, st: s > st["min_value"],
    "less_than_or_equal_to": lambda s, st: s <= st["max_value"],
    "less_than": lambda s, st: s < st["max_value"],
    "isin": lambda s, st: s.isin(st["allowed_values"]),
    "str_matches": lambda s, st: s.astype(str).str.match(st["pattern"]),
}


def _all_pass(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    """Whether every present value passes its column's checks, found without pandera's fixed
    cost per column (False also when a check is not one of :data:`_PASSES`)."""
    for name, column in schema.columns.items():
        values = frame[name]
        values = values[values.notna()]
        for check in column.checks:
            test = _PASSES.get(check.name)
            try:
                if test is None or not bool(np.all(test(values, check.statistics))):
                    return False
            except (TypeError, ValueError):
                return False
    return True


SMALL = 1000  # rows up to which a column of plain text is read value by value (a day's)


def plain_text(values: pd.Series) -> np.ndarray | None:
    """A small column of text as it stands when stripping it changes nothing: each value a
    string or None (missing), or None when the column is large, holds other values, or a
    value starts or ends with a character no letter, digit, punctuation or symbol (anything a
    strip could take off, by any definition of white space). Read this way, a day's few rows
    cost no pandas operation per column; the values are the ones the string methods give."""
    if len(values) > SMALL or not (values.dtype == object or
                                   isinstance(values.dtype, pd.StringDtype)):
        return None
    out = values.to_numpy(dtype=object, na_value=None)
    for v in out:
        if v is None or v == "":
            continue
        if type(v) is not str or not (_solid(v[0]) and _solid(v[-1])):
            return None
    return out


def _solid(char: str) -> bool:
    return "!" <= char <= "~" or unicodedata.category(char)[0] in "LNPS"


def _parse(values: pd.Series, dtype: str) -> tuple[pd.Series, pd.Series]:
    """Parse one column; returns the parsed values and where a present value failed to parse."""
    plain = plain_text(values)
    if plain is not None:
        return _parse_plain(values, plain, dtype)
    text = values.astype("string").str.strip()  # computed once, for every kind below
    present = values.notna() & (text != "")
    if dtype.startswith("datetime"):
        if not pd.api.types.is_datetime64_any_dtype(values):
            # As text: a bare number (a JSON value, say) is not a time, not epoch nanoseconds.
            values = values.astype("string")
        parsed = _local_times(values.where(present))
        # Dates beyond what nanoseconds hold (years before 1678 or after 2261) are not valid.
        held = parsed.isna() | ((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max))
        parsed = parsed.where(held).astype("datetime64[ns]")
    elif dtype.startswith(("int", "float")):
        parsed = pd.to_numeric(values.where(present), errors="coerce").astype(float)
        if dtype.startswith("int"):
            fractional = parsed.notna() & (parsed != np.floor(parsed))
            parsed = parsed.mask(fractional)
    elif dtype in ("bool", "boolean"):
        if values.dtype == bool:
            parsed = values.astype(object)
        else:
            parsed = text.str.lower().map(BOOL_TEXT)
            parsed = parsed.astype(object).where(parsed.notna(), None)
    else:  # text: every present value parses
        return text.astype(object).where(present, None), pd.Series(False, index=values.index)
    return parsed, present & parsed.isna()


def _parse_plain(values: pd.Series, plain: np.ndarray, dtype: str
                 ) -> tuple[pd.Series, pd.Series]:
    """:func:`_parse` of a column :func:`plain_text` read (the same values, value by value
    where the kind allows; times and numbers still parsed by pandas)."""
    present = np.array([v is not None and v != "" for v in plain], dtype=bool)
    index = values.index
    if dtype.startswith("datetime") or dtype.startswith(("int", "float")):
        # (``where`` and ``mask`` that would keep every value are skipped: the same values.)
        kept = values if present.all() else values.where(pd.Series(present, index=index))
        if dtype.startswith("datetime"):
            parsed = _local_times(kept.astype("string"))
            held = parsed.isna() | ((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max))
            parsed = (parsed if held.all() else parsed.where(held)).astype("datetime64[ns]")
        else:
            parsed = pd.to_numeric(kept, errors="coerce").astype(float)
            if dtype.startswith("int"):
                fractional = parsed.notna() & (parsed != np.floor(parsed))
                parsed = parsed.mask(fractional) if fractional.any() else parsed
        missing = parsed.isna().to_numpy(dtype=bool)
    elif dtype in ("bool", "boolean"):
        found = [BOOL_TEXT.get(v.lower()) if v is not None else None for v in plain]
        parsed = pd.Series(found, index=index, dtype=object, name=values.name)
        missing = np.array([v is None for v in found], dtype=bool)
    else:  # text: every present value parses
        return (pd.Series(np.where(present, plain, None), index=index, dtype=object,
                          name=values.name), pd.Series(False, index=index))
    return parsed, pd.Series(present & missing, index=index)


def _local_times(text: pd.Series) -> pd.Series:
    """Times as China Standard Time without a zone: times with an offset are converted."""
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    except ValueError:  # different offsets, or offsets beside local times: one by one
        return pd.Series([_local_time(v) for v in text], index=text.index,
                         dtype="datetime64[ns]")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return parsed


def _local_time(value: object) -> pd.Timestamp:
    try:
        time = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if time is pd.NaT:
        return time
    if time.tzinfo is not None:
        time = time.tz_convert("Asia/Shanghai").tz_localize(None)
    return time if pd.Timestamp.min <= time <= pd.Timestamp.max else pd.NaT


def _kind(dtype: str) -> str:
    if dtype.startswith("datetime"):
        return "date or time (use ISO 8601, e.g. 2024-02-09 14:30)"
    if dtype.startswith("int"):
        return "whole number"
    if dtype.startswith("float"):
        return "number"
    if dtype in ("bool", "boolean"):
        return "yes/no value (true/false, 1/0, 是/否)"
    return "text"


def _check_message(case: pd.Series, frame: pd.DataFrame) -> str:
    """A failed pandera check as a sentence, quoting the value as the source wrote it."""
    check = str(case["check"])
    name = check.split("(")[0]
    column = case["column"]
    numbers = [s.strip() for s in check[len(name):].strip("()").split(",") if s.strip()]
    fill = {"min_value": numbers[0] if numbers else "", "max_value": numbers[-1] if numbers
            else ""}
    template = _CHECK_MESSAGES.get(name, f"fails the check {check}")
    if name == "greater_than_or_equal_to" and fill["min_value"] in ("0", "0.0"):
        template = "is negative; counts cannot be below 0"
    return f"column {column}: '{frame.at[case['index'], column]}' {template.format(**fill)}"


def finalize(typed: pd.DataFrame, table: str) -> pd.DataFrame:
    """Cast a fully conformed frame to the contract's dtypes and validate it (a bug if it fails)."""
    model = SCHEMAS[table]
    schema = model.to_schema()
    out = pd.DataFrame(index=typed.index)
    for name, column in schema.columns.items():
        dtype = str(column.dtype)
        series = typed[name]
        if dtype.startswith("int"):
            out[name] = series.astype("int64")
        elif dtype.startswith("float"):
            out[name] = series.astype("float64")
        elif dtype == "boolean":
            out[name] = series.astype("boolean")
        elif dtype == "bool":
            out[name] = series.astype(bool)
        elif dtype.startswith("datetime"):
            out[name] = series.astype("datetime64[ns]")
        else:
            out[name] = series.astype(object).where(series.notna(), None).astype("string")
    out = out.reset_index(drop=True)
    # The types are the contract's by construction; pandera runs (and names the failure) only
    # when a value breaks it, instead of costing its fixed time per column on every frame.
    return out if _keeps(schema, out) else model.validate(out)


def _keeps(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    """Whether ``frame`` has exactly the contract's columns, no missing values where it allows
    none, no repeated values where they must be unique, and passes every check."""
    if list(frame.columns) != list(schema.columns):
        return False
    for name, column in schema.columns.items():
        values = frame[name]
        if (not column.nullable and values.isna().any()) or \
                (column.unique and values.duplicated().any()):
            return False
    return _all_pass(schema, frame)
