"""Mapping files: how one export's columns and codes become the project's vocabulary."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskgrid.errors import InputError


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
    encoding: Literal["auto", "utf-8", "gbk", "gb18030"] = "auto"
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


def apply_mapping(raw: pd.DataFrame, mapping: Mapping) -> tuple[pd.DataFrame, pd.Series]:
    """Rename, recode and add constant columns.

    Returns:
        The mapped frame (project column names only, all values still as read) and, per row,
        the reason it cannot be recoded ("" when it can).
    """
    renamed = raw.rename(columns=mapping.columns)
    known = set(mapping.columns.values()) | set(mapping.keep)
    if not mapping.columns:
        known |= set(raw.columns)
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
