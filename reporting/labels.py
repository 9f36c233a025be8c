"""The meeting pack's words in English and Chinese, from labels.toml."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files

from riskgrid import vocabulary as C
from riskgrid.errors import InputError

LANGS = C.REPORT_LANGS


@cache
def catalogue() -> dict[str, dict]:
    """Every label, by language (the parsed labels.toml)."""
    return tomllib.loads(files("reporting").joinpath("labels.toml").read_text("utf-8"))


def labels(lang: str) -> dict:
    """The labels of one language; InputError naming the choices for an unknown one."""
    if lang not in LANGS:
        raise InputError(f"--lang {lang!r} is not a language of the meeting pack; use one of "
                         f"{', '.join(LANGS)}")
    return catalogue()[lang]
