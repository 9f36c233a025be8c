"""Mapping files: how one export's columns and codes become the project's vocabulary."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from riskgrid.errors import InputError

CODE = re.compile(r"[a-z0-9_]+")
Label = tuple[str, str]


class Vocabulary(BaseModel):
    """Codes beyond the built-in lists, each with an English and a Chinese label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, Label] = Field(default_factory=dict)
    families: dict[str, Label] = Field(
        default_factory=dict, description="New category families; their categories are "
        "FAMILY.anything and count as a stream of their own.")

    @field_validator("channels", "families")
    @classmethod
    def _codes(cls, table: dict[str, Label]) -> dict[str, Label]:
        for code in table:
            if not CODE.fullmatch(code):
                raise ValueError(f"code '{code}' must be lower-case letters, digits and _")
        return table


class StaticCovariate(BaseModel):
    """One numeric column of an areas table kept as a static feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Feature name (default: the column, as a code).")
    en: str | None = None
    zh: str | None = None


class Mapping(BaseModel):
    """A mapping TOML file.

    Example::

        format = "csv"
        encoding = "gb18030"
        [columns]            # source column -> project column
        "事件编号" = "incident_id"
        [recode.category]    # project column -> {source value -> project value}
        "劳资纠纷" = "dispute.wage_arrears"
        [constants]          # project columns with one value for every row
        channel = "hotline_12345"
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["csv", "parquet", "jsonl"] | None = None
    encoding: Literal["auto", "utf-8", "utf-16", "gbk", "gb18030"] = "auto"
    delimiter: str = Field(",", min_length=1, max_length=1,
                           description="Field separator of a CSV file, e.g. \";\" or \"\\t\".")
    columns: dict[str, str] = Field(default_factory=dict)
    recode: dict[str, dict[str, str]] = Field(default_factory=dict)
    recode_default: dict[str, str] = Field(
        default_factory=dict,
        description="Project column -> value for source values missing from its recode table "
        "(without one, such rows are quarantined).",
    )
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    date_format: str | None = Field(None, description="strptime format; default ISO 8601.")
    keep: list[str] = Field(
        default_factory=list, description="Source columns kept under their own name."
    )
    combine: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Project column -> source columns joined with a space, in order (a date "
        "column and a time column become one timestamp).",
    )
    handling_record: bool = Field(
        True, description="False for sources without an open/closed lifecycle (crimes, police "
        "calls): no handling features count their cases as open.",
    )
    merge_rows: bool = Field(
        False, description="Rows sharing an incident id are one incident (one row per victim, "
        "say): they merge into the first row, people_involved = the number of rows.",
    )
    vocabulary: Vocabulary = Field(default_factory=lambda: Vocabulary())
    static: dict[str, StaticCovariate] = Field(
        default_factory=dict,
        description="Areas tables: source column -> a numeric covariate that becomes a static "
        "feature of each area.",
    )


def load_mapping(path: Path | None) -> Mapping:
    """Read a mapping file; no file means the source already uses the project's column names."""
    if path is None:
        return Mapping()
    if not path.is_file():
        raise InputError(f"{path}: mapping file not found; fix the 'mapping' path in the "
                         "experiment file.")
    try:
        return Mapping.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); fix the syntax there.") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{path}: field '{where}': {err['msg']}.") from None


def static_name(column: str, covariate: StaticCovariate) -> str:
    """The feature name of a declared covariate: its ``name``, or the column as a code."""
    if covariate.name:
        return covariate.name
    code = re.sub(r"[^0-9a-z]+", "_", column.strip().lower()).strip("_")
    return code if code and not code[0].isdigit() else f"static_{code}"


def apply_mapping(raw: pd.DataFrame, mapping: Mapping) -> tuple[pd.DataFrame, pd.Series]:
    """Combine, rename, recode and add constant columns.

    Returns:
        The mapped frame (project column names only, all values still as read) and, per row,
        the reason it cannot be recoded ("" when it can).
    """
    raw = raw.assign(**{f"__combined_{t}": _joined(raw, parts)
                        for t, parts in mapping.combine.items()})
    renames = {**mapping.columns, **{f"__combined_{t}": t for t in mapping.combine},
               **{c: static_name(c, s) for c, s in mapping.static.items() if c in raw}}
    renamed = raw.rename(columns=renames)
    known = set(renames.values()) | set(mapping.keep)
    if not mapping.columns:
        known |= {c for c in raw.columns if not c.startswith("__combined_")}
    out = renamed[[c for c in renamed.columns if c in known]].copy()
    reasons = pd.Series("", index=raw.index, dtype=object)
    for column, table in mapping.recode.items():
        if column not in out.columns:
            continue
        source = out[column]
        text = source.astype("string").str.strip()
        coded = text.map(table)
        default = mapping.recode_default.get(column)
        missing = coded.isna() & source.notna()
        if default is not None:
            coded = coded.where(~missing, default)
        else:
            bad = missing & (reasons == "")
            reasons[bad] = [
                f"column {column}: value '{v}' is not in the mapping's [recode.{column}] table; "
                "add it there" for v in text[bad]
            ]
        out[column] = coded.astype(object).where(coded.notna(), None)
    for column, value in mapping.constants.items():
        out[column] = value
    return out, reasons


def _joined(raw: pd.DataFrame, parts: list[str]) -> pd.Series:
    """Source columns joined by a space; a row missing any part is missing."""
    absent = [p for p in parts if p not in raw.columns]
    if absent:
        raise InputError(f"[combine] names the column '{absent[0]}', which the file does not "
                         "have; fix the column name in the mapping file")
    text = [raw[p].astype("string").str.strip() for p in parts]
    joined = text[0]
    for more in text[1:]:
        joined = joined + " " + more
    return joined.astype(object).where(joined.notna(), None)
