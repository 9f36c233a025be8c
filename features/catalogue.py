"""The feature catalogue: every feature's family and its meaning in English and Chinese."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

PERIOD_WORDS = {"day": ("days", "天"), "week": ("weeks", "周"), "month": ("months", "个月")}

# Event streams the count features are built from: name -> (English, Chinese).
STREAMS = {
    "all": ("incidents", "事件"),
    "law_enforcement": ("law-enforcement incidents", "行政执法类事件"),
    "livelihood": ("livelihood help requests", "民生求助类事件"),
    "dispute": ("conflicts and disputes", "矛盾纠纷类事件"),
    "group": ("group incidents (5 or more people)", "群体性事件(5人及以上)"),
    "petitions": ("petitions", "信访件"),
    "collective": ("collective petitions", "集体访"),
    "repeat": ("repeat petitions", "重复访"),
    "escalated": ("level-skipping petitions", "越级访"),
}


def stream_words(stream: str) -> tuple[str, str]:
    """English and Chinese name of a stream; a family a mapping declared gets its code."""
    return STREAMS.get(stream, (f"'{stream}' incidents", f"“{stream}”类事件"))


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its column name, family, and descriptions a meeting can read."""

    name: str
    family: str
    en: str
    zh: str


def count_specs(stream: str, windows: list[int], period: str) -> list[FeatureSpec]:
    """Catalogue entries of the count features of one stream."""
    en, zh = stream_words(stream)
    unit_en, unit_zh = PERIOD_WORDS[period]
    one_en = unit_en.rstrip("s")
    specs = [
        FeatureSpec(f"{stream}_now", "counts", f"{en} this {one_en}", f"本{unit_zh}{zh}数"),
        FeatureSpec(f"{stream}_prev", "counts", f"{en} the {one_en} before",
                    f"上{unit_zh}{zh}数"),
        FeatureSpec(f"{stream}_ewm", "counts", f"{en}, recent weighted average per {one_en}",
                    f"{zh}近期加权平均(每{unit_zh})"),
        FeatureSpec(f"{stream}_mean_all", "counts", f"{en}, long-run average per {one_en}",
                    f"{zh}长期平均(每{unit_zh})"),
        FeatureSpec(f"{stream}_last_year", "counts",
                    f"{en} in the same {unit_en} last year, average",
                    f"去年同期{zh}平均数"),
        FeatureSpec(f"{stream}_trend", "trend",
                    f"{en}: last {windows[0]} {unit_en} against the last {windows[-1]}",
                    f"{zh}趋势(近{windows[0]}{unit_zh}与近{windows[-1]}{unit_zh}之比)"),
    ]
    specs += [FeatureSpec(f"{stream}_sum_{w}", "counts", f"{en} in the last {w} {unit_en}",
                          f"近{w}{unit_zh}{zh}数") for w in windows]
    return specs


def catalogue_frame(specs: list[FeatureSpec]) -> pd.DataFrame:
    """The catalogue as a table, one row per feature, in panel column order."""
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature names defined twice: {repeated}")
    return pd.DataFrame([asdict(s) for s in specs])
