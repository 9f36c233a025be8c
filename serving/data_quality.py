"""The data alarms as the service, the dashboard and the meeting pack give them: in plain
sentences (English and Chinese), per as-of period, for an area, and as a flag on each score
whose area rests on a broken source (features.quality finds them; docs/data_quality.md)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping

import pandas as pd

from features import Volumes, data_alarms, read_volumes
from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from riskgrid.experiment import DataQualityConfig, Experiment
from riskgrid.settings import Settings

log = logging.getLogger(__name__)
SOURCE_WORDS = {"incidents": ("incidents", "事件"), "petitions": ("petitions", "信访件")}
CHANNEL_EN = {"hotline_12345": "12345 hotline", "grid_officer": "grid officers' patrols",
              "city_management": "digital city management", "police": "110 police calls",
              "online": "online channels"}
COLUMN_WORDS = {"category": ("category", "类别"), "channel": ("channel", "渠道"),
                "topic": ("topic", "事项")}
PERIOD_WORDS = {"day": ("day", "天"), "week": ("week", "周"), "month": ("month", "个月")}
FLAG_FIELDS = ("kind", "source", "channel", "area_id", "since", "until")
_CACHED = 8  # as-of periods kept


class DataQuality:
    """The data alarms of one experiment: volumes counted once, alarms per as-of cached."""

    def __init__(self, volumes: Volumes | None, config: DataQualityConfig, period: str,
                 names: Mapping[str, str]):
        self.volumes, self.config, self.period, self.names = volumes, config, period, names
        above = {} if volumes is None else volumes.ancestors
        # every area with itself and the city among the units it lies in
        self.ancestors = {u: frozenset({u, C.CITY, *up}) for u, up in above.items()}
        self._cache: OrderedDict[pd.Timestamp, list[dict]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, experiment: Experiment, settings: Settings, names: Mapping[str, str]
             ) -> DataQuality:
        """Count the experiment's clean tables over the feature panel's periods; without them
        there are no alarms, and the log says why."""
        try:
            volumes = read_volumes(experiment.output_dir(settings), experiment.features.period)
        except InputError as exc:
            log.warning("no data alarms: %s", exc)
            volumes = None
        return cls(volumes, experiment.data_quality, experiment.features.period, names)

    def at(self, as_of: pd.Timestamp) -> list[dict]:
        """Every alarm listed as of ``as_of``, each with its sentence in both languages."""
        as_of = pd.Timestamp(as_of)
        with self._lock:
            if as_of in self._cache:
                return self._cache[as_of]
        found = [] if self.volumes is None else [
            {**row, **sentences(row, self.names, self.period, self.config.window)}
            for row in data_alarms(self.volumes, self.config, as_of).to_dict("records")]
        with self._lock:
            self._cache[as_of] = found
            while len(self._cache) > _CACHED:
                self._cache.popitem(last=False)
        return found

    def about(self, area_id: str, as_of: pd.Timestamp) -> list[dict]:
        """The alarms of ``as_of`` that concern ``area_id``: about the area itself, a unit
        above it (its district's hotline, the whole source) or an area inside it."""
        return [a for a in self.at(as_of) if self.concerns(a["area_id"], area_id)]

    def concerns(self, alarm_area: str, area_id: str) -> bool:
        """Whether an alarm about ``alarm_area`` concerns ``area_id``: one lies in the other."""
        return alarm_area in self.ancestors.get(area_id, {area_id, C.CITY}) \
            or area_id in self.ancestors.get(alarm_area, ())

    def flag(self, scores: list[dict], as_of: pd.Timestamp) -> list[dict]:
        """Each score with ``data_alarms``: the alarms its area's forecast rests on."""
        alarms = self.at(as_of)
        for score in scores:
            score["data_alarms"] = [{k: a[k] for k in FLAG_FIELDS} for a in alarms
                                    if self.concerns(a["area_id"], score["area_id"])]
        return scores


def sentences(alarm: Mapping, names: Mapping[str, str], period: str, window: int) -> dict:
    """``sentence_en`` and ``sentence_zh``: what the alarm says, in plain words."""
    unit_en, unit_zh = PERIOD_WORDS[period]
    source_en, source_zh = SOURCE_WORDS.get(alarm["source"] or "", ("records", "记录"))
    area = alarm["area_id"] or C.CITY
    place_en = "the city" if area == C.CITY else names.get(area, area)
    place_zh = "全市" if area == C.CITY else names.get(area, area)
    channel = alarm["channel"]
    heard = f" from {CHANNEL_EN.get(channel, channel)}" if channel else ""
    what_en = f"{source_en[:1].upper()}{source_en[1:]}{heard} in {place_en}"
    what_zh = f"{place_zh}的{C.CHANNELS.get(channel, channel or '')}{source_zh}"
    n, since = int(alarm["periods"]), alarm["since"]
    spell = f"{n} {unit_en}{'' if n == 1 else 's'}"
    usual, seen = _about(alarm["usual"]), _about(alarm["observed"])
    records = f"{int(alarm['records'] or 0):,}"
    column_en, column_zh = COLUMN_WORDS.get(alarm["column"] or "", ("value", "取值"))
    code, value = alarm["category"], alarm["value"]
    label_en, label_zh = _label(alarm["column"], code)
    kind = alarm["kind"]
    if kind == "late":
        return _pair(
            f"{what_en}: no records for {spell} from {since}, where about {usual} a "
            f"{unit_en} came before; these zeros are missing data, not a quiet area.",
            f"{what_zh}：自{since}起连续{n}{unit_zh}没有记录，此前每{unit_zh}约{usual}条；"
            "这些零是缺数据，不是没有事。")
    if kind in ("drop", "jump"):
        change = abs(alarm["observed"] / alarm["usual"] - 1) if alarm["usual"] else 0.0
        more = kind == "jump"
        return _pair(
            f"{what_en}: about {seen} a {unit_en} for {spell} from {since}, against "
            f"about {usual} usually ({change:.0%} {'more' if more else 'fewer'}); check the "
            f"{'source for a merger or a new way of counting' if more else 'export'} before "
            "reading the forecasts there.",
            f"{what_zh}：自{since}起连续{n}{unit_zh}每{unit_zh}约{seen}条，平时约{usual}条，"
            f"比平时{'多' if more else '少'}{change:.0%}；"
            f"{'可能是渠道合并或统计口径变化' if more else '可能是数据没有导全'}，请先核实再看这里的预测。")
    if kind == "category_gone":
        return _pair(
            f"{source_en[:1].upper()}{source_en[1:]} of the {column_en} {label_en}: none since "
            f"{since} ({spell}), where about {usual} a {unit_en} came before; it may "
            f"have been renamed or merged: check [recode.{alarm['column']}] of the mapping.",
            f"{column_zh}为“{label_zh}”的{source_zh}自{since}起{n}{unit_zh}没有记录（此前每"
            f"{unit_zh}约{usual}条），可能被改名或合并，请检查映射文件的[recode.{alarm['column']}]。")
    if kind == "recoding":
        return _pair(
            f"{source_en[:1].upper()}{source_en[1:]}: the {column_en} {label_en} has had no "
            f"records since {since}, and {records} rows came with the unknown {column_en} "
            f"'{value}' instead, so they were set aside (quarantined): it looks renamed; map "
            f"'{value}' to {code} under [recode.{alarm['column']}] of the mapping and ingest "
            "again.",
            f"{source_zh}{column_zh}“{label_zh}”自{since}起没有记录，同时有{records}条记录的"
            f"{column_zh}是新值“{value}”，已暂存未用：像是改了名称。请在映射文件"
            f"[recode.{alarm['column']}]中把“{value}”对应到{code}，再重新导入。")
    if kind == "category_new" and value is not None:
        return _pair(
            f"{source_en[:1].upper()}{source_en[1:]}: {records} rows since {since} have the "
            f"{column_en} '{value}', which the mapping does not know, so they were set aside "
            f"(quarantined); add it under [recode.{alarm['column']}] and ingest again.",
            f"{source_zh}：自{since}起有{records}条记录的{column_zh}是“{value}”，映射文件里"
            f"没有这个值，已暂存未用；请在[recode.{alarm['column']}]中补上后重新导入。")
    if kind == "category_new":
        return _pair(
            f"{source_en[:1].upper()}{source_en[1:]}: a new {column_en} {label_en}, {records} "
            f"records since {since} and none in the {window} {unit_en}s before; check whether "
            "it replaced another one.",
            f"{source_zh}出现新的{column_zh}“{label_zh}”：自{since}起{records}条，此前"
            f"{window}{unit_zh}没有；请核实它是否替换了原有的{column_zh}。")
    return _pair(
        f"{place_en}: no records from any source for {spell} from {since}, where about "
        f"{usual} a {unit_en} came before: its zeros mean no data, not no events, and its "
        "forecasts rest on missing data.",
        f"{place_zh}：自{since}起连续{n}{unit_zh}所有来源都没有记录（此前每{unit_zh}约{usual}"
        "条）：这些零是缺数据，不是没有事，这里的预测依据不足。")


def _pair(en: str, zh: str) -> dict:
    return {"sentence_en": en, "sentence_zh": zh}


def _about(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _label(column: str | None, code: str | None) -> tuple[str, str]:
    """English and Chinese name of a category, topic or channel code."""
    if code is None:
        return "", ""
    if column == "channel":
        return CHANNEL_EN.get(code, code), C.CHANNELS.get(code, code)
    if column == "topic":
        return code.replace("_", " "), C.PETITION_TOPICS.get(code, code)
    family, _, sub = code.partition(".")
    zh = C.SUB_CATEGORIES.get(family, {}).get(sub, code)
    words = C.FAMILIES.get(family, (family, family))[0]
    return f"{sub.replace('_', ' ')} ({words}, {code})", zh
