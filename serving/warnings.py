"""Early-warning rules: levels, kinds and suggested responses from scores and observed signals.

Pure functions of DataFrames: the scoring service calls :func:`issue_warnings` after scoring.
The rules, their settings and the kinds they issue are described in docs/warnings.md.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskgrid import vocabulary as C
from riskgrid.experiment import WarningsConfig
from riskgrid.vocabulary import DS, EXCESS, UNIT_ID, UNIT_NAME, YHAT, YHAT_UPPER, Y

LEVELS: tuple[str, ...] = C.WARNING_LEVELS  # highest first
NONE = "none"
# Also the tie-break when two kinds have the same weight of drivers: the one to act on first.
KINDS: tuple[str, ...] = C.RISK_KINDS
FALLBACK_KIND = "sudden_group"  # the default risk flag is a collective petition or group incident
RULES: tuple[str, ...] = ("probability", "surge", "weak_signal", "backlog")
WARNING_KEYS: tuple[str, ...] = (
    "warning_id", "area_id", "level", "kind", "rule", "period", "as_of", "horizon",
    "model_version", "score", "evidence", "response_en", "response_zh",
)
HORIZON, EXPECTED_COUNT, RISK_PROBABILITY = "horizon", "expected_count", "risk_probability"
STREAM = "stream"  # optional column of the surges frame: the stream whose trend surged
TOP_DRIVERS = 3

# Streams whose rise means people acting together (group incidents and petitions).
GROUP_STREAMS = ("group", "collective", "petitions", "repeat", "escalated")
GROUP_FEATURES = ("periods_since_collective", "repeat_same_topic_max")
BACKLOG_FEATURES = ("petition_backlog", "petitions_open")
CALENDAR_FAMILIES = ("calendar", "target_calendar")
PARENT_PREFIXES = ("community_", "street_", "district_")

# Panel columns a meeting wants next to a warning of each kind (those present are reported).
COUNTS_BY_KIND = {
    "sudden_group": ("collective_now", "group_now", "petitions_now", "repeat_same_topic_max",
                     "periods_since_collective", "escalated_now"),
    "cyclical_sector": ("all_now", "all_mean_all", "all_last_year", "dispute_now"),
    "spreading": ("dispute_now", "neighbours_dispute_sum_4", "neighbours_all_sum_4",
                  "neighbours_group_sum_13"),
    "sinking_backlog": ("overdue_open_cases", "overdue_open_disputes", "open_cases",
                        "petition_backlog"),
}
CONTEXT_COUNTS = ("all_now", "all_mean_all")

SUGGESTED_RESPONSES: dict[tuple[str, str], tuple[str, str]] = {
    ("sudden_group", "red"): (
        ("Street stability team meets the group's representatives within 24 hours to hear their "
         "demands; the district is informed and the contingency plan is readied."),
        "街道维稳工作组24小时内约见群体代表、摸清诉求，同步报告区级，做好应急处置预案。"),
    ("sudden_group", "orange"): (
        ("Street names a leading official for the case within 48 hours; grid officer and community "
         "staff visit the people involved and log their demands, with daily follow-up."),
        "街道48小时内明确包案领导，网格员会同社区干部上门走访当事群众、登记诉求，每日跟踪。"),
    ("sudden_group", "yellow"): (
        ("Grid officer and community staff visit within the week to hear the demands and report to "
         "the street; watch for people gathering or planning to petition."),
        "网格员会同社区干部一周内走访了解诉求并报街道，关注人员聚集和信访苗头。"),
    ("sudden_group", "blue"): (
        ("Grid officer keeps the people concerned on the patrol list and notes any change in the "
         "weekly report."),
        "网格员将相关人员纳入日常巡查重点，在周报中记录动态变化。"),
    ("cyclical_sector", "red"): (
        ("District labour, housing and market-regulation departments check the sector's employers "
         "within 72 hours (wage payment, site deposits); the street opens an on-site mediation "
         "point."),
        ("区人社、住建、市场监管等部门72小时内联合排查相关行业企业（工资支付、保证金），"
         "街道设立现场调解点。")),
    ("cyclical_sector", "orange"): (
        ("Street convenes the sector's employers and the departments concerned within the week to "
         "check wages and contracts, and publishes the complaint hotline."),
        "街道一周内召集相关行业企业和职能部门排查工资支付与合同履行情况，公布投诉举报电话。"),
    ("cyclical_sector", "yellow"): (
        ("Community reminds employers and property managers of the seasonal risk; grid officers add "
         "the sector's sites to their patrols."),
        "社区提醒辖区企业、物业做好季节性风险防范，网格员将相关场所纳入巡查。"),
    ("cyclical_sector", "blue"): (
        ("Report the seasonal pattern at the next risk-assessment meeting and prepare the usual "
         "pre-holiday checks."),
        "在下次风险研判会上通报季节性规律，提前准备节前例行排查。"),
    ("spreading", "red"): (
        ("Street forms a joint team across the affected grids within 24 hours; mediators and the "
         "police station cover the neighbouring grids; the district is informed."),
        "街道24小时内组建跨网格联合工作组，调解员和派出所民警覆盖相邻网格，同步报告区级。"),
    ("spreading", "orange"): (
        ("Street coordinates the affected grids and their neighbours within 48 hours: joint patrols "
         "and door-to-door mediation of the open disputes."),
        "街道48小时内统筹涉及网格及相邻网格开展联合巡查，对未化解纠纷逐户上门调解。"),
    ("spreading", "yellow"): (
        ("Community alerts the neighbouring grid officers, shares the case list and looks for "
         "disputes with the same cause."),
        "社区通报相邻网格网格员，共享案件清单，排查同类起因的矛盾纠纷。"),
    ("spreading", "blue"): (
        "Grid officers of the neighbouring grids watch for similar incidents on their patrols.",
        "相邻网格网格员在日常巡查中留意同类事件。"),
    ("sinking_backlog", "red"): (
        ("District assigns a leading official to every overdue case within 72 hours with a deadline "
         "to close; backlog petitions are reviewed one by one."),
        "区级72小时内对超期案件逐件落实领导包案、限期办结，信访积案逐案复查。"),
    ("sinking_backlog", "orange"): (
        ("Street reviews every overdue case within the week, names an owner and a deadline for "
         "each, and reports progress at the next meeting."),
        "街道一周内逐件梳理超期案件，明确责任人和办结时限，在下次研判会上通报进展。"),
    ("sinking_backlog", "yellow"): (
        ("Community lists the overdue cases, presses the departments holding them and calls back "
         "the residents still waiting."),
        "社区梳理超期未办结案件清单，督促承办部门加快办理，回访等待答复的群众。"),
    ("sinking_backlog", "blue"): (
        ("Flag the rising overdue count in the weekly report; grid officers call on the residents "
         "behind the oldest cases."),
        "在周报中提示超期案件上升，网格员就积压最久的案件回访群众。"),
}


# --- levels and kinds --------------------------------------------------------------------------


def levels(scores: pd.DataFrame, config: WarningsConfig) -> pd.Series:
    """Level of each score row ("red" ... "blue" or "none"), with the alert budget per horizon.

    Within a horizon at most ``floor(alert_budget * areas)`` rows are red or orange; the rest
    over the orange threshold drop to yellow. Rows are ranked by probability, then expected
    count, then area_id, so ties are broken the same way every time.
    """
    prob = scores[RISK_PROBABILITY].to_numpy(np.float64)
    out = np.full(len(scores), NONE, dtype=object)
    for level in reversed(LEVELS):  # highest threshold last, so it wins
        out[prob >= config.threshold(level)] = level
    order = pd.DataFrame({
        "h": scores[HORIZON].to_numpy(), "p": prob, "area": scores[C.AREA_ID].to_numpy(),
        "count": scores[EXPECTED_COUNT].to_numpy(np.float64) if EXPECTED_COUNT in scores
        else np.zeros(len(scores))})
    for _, rows in order.groupby("h", sort=False):
        cap = math.floor(config.alert_budget * rows["area"].nunique() + 1e-9)
        top = rows[np.isin(out[rows.index], ("red", "orange"))]
        ranked = top.sort_values(["p", "count", "area"], ascending=[False, False, True],
                                 kind="stable")
        out[ranked.index[cap:].to_numpy()] = "yellow"
    return pd.Series(out, index=scores.index, name="risk_level")


def feature_kind(name: str, family: str) -> str | None:
    """The kind of risk a feature speaks for, or None when it speaks for none (see docs)."""
    if family == "spread" or name.startswith("neighbours_"):
        return "spreading"
    if family == "handling" or name in BACKLOG_FEATURES:
        return "sinking_backlog"
    if family in CALENDAR_FAMILIES or name.startswith("target_") or name.endswith("_last_year"):
        return "cyclical_sector"
    base = name.removeprefix(next((p for p in PARENT_PREFIXES if name.startswith(p)), ""))
    if name in GROUP_FEATURES or any(base == s or base.startswith(s + "_")
                                     for s in GROUP_STREAMS):
        return "sudden_group"
    if family == "trend":
        return "cyclical_sector"
    return None


def _feature_kinds(features: pd.Index, catalogue: pd.DataFrame) -> pd.Series:
    family = catalogue.set_index("name")["family"]
    return pd.Series([feature_kind(f, str(family.get(f, ""))) for f in features], index=features)


def kind_of(contributions: pd.Series | pd.DataFrame, catalogue: pd.DataFrame
            ) -> str | pd.Series:
    """Kind of risk behind a forecast: the kind whose features push the log-rate up the most.

    Args:
        contributions: one row (Series over features) or rows (DataFrame) of TreeSHAP values.
        catalogue: the feature catalogue (name, family, en, zh).

    Returns:
        The kind (a str for a Series, a Series of kinds for a DataFrame). Ties go to the kind
        listed first in ``KINDS``; rows where no kind's features push up get ``FALLBACK_KIND``.
    """
    if isinstance(contributions, pd.Series):
        return str(kind_of(contributions.to_frame().T, catalogue).iloc[0])
    kinds = _feature_kinds(contributions.columns, catalogue)
    positive = contributions.astype(np.float64).clip(lower=0).fillna(0.0)
    weight = pd.DataFrame({k: positive.loc[:, (kinds == k).to_numpy()].sum(axis=1)
                           for k in KINDS}, index=contributions.index)
    best = weight.idxmax(axis=1)  # first of the maxima, in KINDS order
    return best.where(weight.max(axis=1) > 0, FALLBACK_KIND).rename("kind")


# --- evidence ----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _labels(catalogue: pd.DataFrame) -> dict[str, tuple[str, str]]:
    labels = {r.name: (str(r.en), str(r.zh)) for r in catalogue.itertuples(index=False)}
    for name, (en, zh) in list(labels.items()):  # the models also read the target's calendar
        labels.setdefault(f"target_{name}", (f"forecast period: {en}", f"预测期{zh}"))
    return labels


def _drivers(contrib: pd.Series, values: pd.Series | None,
             labels: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    up = contrib.astype(np.float64)
    up = up[up > 0].sort_values(ascending=False, kind="stable").head(TOP_DRIVERS)
    out = []
    for feature, contribution in up.items():
        en, zh = labels.get(feature, (feature, feature))
        value = values.get(feature) if values is not None else None
        out.append({"feature": feature, "label_en": en, "label_zh": zh,
                    "value": None if value is None else _number(value),
                    "contribution": round(float(contribution), 6)})
    return out


def _counts(values: pd.Series | None, kind: str) -> dict[str, float | None]:
    if values is None:
        return {}
    names = dict.fromkeys([*COUNTS_BY_KIND[kind], *CONTEXT_COUNTS])
    return {n: _number(values[n]) for n in names if n in values.index}


def warning_id(area_id: str, kind: str, rule: str, period: str, horizon: int,
               model_version: str) -> str:
    """Deterministic id: the first 16 hex digits of sha1(area|kind|rule|period|horizon|model)."""
    key = f"{area_id}|{kind}|{rule}|{period}|{horizon}|{model_version}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _warning(area_id: str, level: str, kind: str, rule: str, period: pd.Timestamp,
             horizon: int, score: float, evidence: dict[str, Any], context: _Context
             ) -> dict[str, Any]:
    day = period.date().isoformat()
    en, zh = SUGGESTED_RESPONSES[(kind, level)]
    return {
        "warning_id": warning_id(area_id, kind, rule, day, horizon, context.model_version),
        "area_id": str(area_id), "level": level, "kind": kind, "rule": rule, "period": day,
        "as_of": context.as_of.date().isoformat(), "horizon": int(horizon),
        "model_version": context.model_version, "score": float(score), "evidence": evidence,
        "response_en": en, "response_zh": zh,
    }


# --- rules -------------------------------------------------------------------------------------


class _Context:
    """What every rule reads: the as-of period, its panel rows and the drivers per area."""

    def __init__(self, scores: pd.DataFrame, contributions: pd.DataFrame,
                 panel_rows: pd.DataFrame, catalogue: pd.DataFrame, config: WarningsConfig,
                 as_of: pd.Timestamp, model_version: str, period: str) -> None:
        self.config, self.as_of, self.model_version, self.period = (
            config, as_of, model_version, period)
        self.labels = _labels(catalogue)
        self.panel = panel_rows.assign(**{C.PERIOD: pd.to_datetime(panel_rows[C.PERIOD])})
        now = self.panel[self.panel[C.PERIOD] == as_of]
        self.now = now.drop_duplicates(C.AREA_ID, keep="last").set_index(C.AREA_ID)
        first = scores[HORIZON].to_numpy() == min(config.horizons)
        self.first_contrib = contributions[first].set_axis(scores.loc[first, C.AREA_ID])

    def shift(self, k: int) -> pd.Timestamp:
        """The period ``k`` periods after the as-of period (before it when negative)."""
        if self.period == "month":
            return self.as_of + pd.DateOffset(months=k)
        return self.as_of + pd.Timedelta(days=k * (7 if self.period == "week" else 1))

    def values(self, area_id: str) -> pd.Series | None:
        return self.now.loc[area_id] if area_id in self.now.index else None

    def history(self, column: str, back: int) -> pd.DataFrame:
        """Areas x periods (oldest first, as-of last) of one column; NaN where a row is missing."""
        wide = self.panel.pivot_table(index=C.AREA_ID, columns=C.PERIOD, values=column,
                                      aggfunc="last", dropna=False)
        return wide.reindex(columns=[self.shift(-k) for k in range(back, -1, -1)])

    def observed_evidence(self, area_id: str, kind: str, trigger: dict[str, Any]
                          ) -> dict[str, Any]:
        contrib = self.first_contrib
        drivers = (_drivers(contrib.loc[area_id], self.values(area_id), self.labels)
                   if area_id in contrib.index else [])
        return {"trigger": trigger, "drivers": drivers,
                "counts": _counts(self.values(area_id), kind)}


def _probability_warnings(scores: pd.DataFrame, contributions: pd.DataFrame,
                          catalogue: pd.DataFrame, ctx: _Context) -> list[dict[str, Any]]:
    config = ctx.config
    final = levels(scores, config).to_numpy()
    prob = scores[RISK_PROBABILITY].to_numpy(np.float64)
    by_threshold = levels(scores, config.model_copy(update={"alert_budget": 1.0})).to_numpy()
    keep = np.flatnonzero((final != NONE) & scores[HORIZON].isin(config.horizons).to_numpy())
    kinds = kind_of(contributions.iloc[keep], catalogue).to_numpy()
    out = []
    for i, kind in zip(keep, kinds):
        area, h = str(scores[C.AREA_ID].iat[i]), int(scores[HORIZON].iat[i])
        values = ctx.values(area)
        trigger = {"risk_probability": float(prob[i]),
                   "expected_count": _number(scores[EXPECTED_COUNT].iat[i])
                   if EXPECTED_COUNT in scores else None,
                   "threshold": config.threshold(final[i]),
                   "level_by_threshold": by_threshold[i],
                   "held_back_by_alert_budget": bool(by_threshold[i] != final[i])}
        evidence = {"trigger": trigger,
                    "drivers": _drivers(contributions.iloc[i], values, ctx.labels),
                    "counts": _counts(values, kind)}
        out.append(_warning(area, final[i], kind, "probability", ctx.shift(h), h, prob[i],
                            evidence, ctx))
    return out


def surge_kind(stream: str) -> str:
    """Kind of a street/district surge: people acting together, or incidents spreading."""
    return "sudden_group" if stream in GROUP_STREAMS else "spreading"


def _surge_warnings(surges: pd.DataFrame | None, areas: pd.DataFrame, ctx: _Context
                    ) -> list[dict[str, Any]]:
    if surges is None or surges.empty:
        return []
    rows = surges[pd.to_datetime(surges[DS]) == ctx.as_of]
    units = {lvl: areas[C.LEVEL_ID[lvl]].astype(str) for lvl in ("street", "district")}
    out = []
    for _, row in rows.iterrows():
        unit = str(row[UNIT_ID])
        level_name = next((lvl for lvl, ids in units.items() if (ids == unit).any()), None)
        grids = int((units[level_name] == unit).sum()) if level_name else 0
        stream = str(row[STREAM]) if STREAM in row.index else ctx.config.surge_stream
        kind = surge_kind(stream)
        trigger = {"stream": stream, "unit_level": level_name,
                   "unit_name": str(row[UNIT_NAME]) if UNIT_NAME in row.index else None,
                   "observed": _number(row[Y]), "expected": _number(row[YHAT]),
                   "upper": _number(row[YHAT_UPPER]), "excess": _number(row[EXCESS])}
        evidence = {"trigger": trigger, "drivers": [], "counts": {"grids": grids}}
        out.append(_warning(unit, ctx.config.surge_level, kind, "surge", ctx.as_of, 0,
                            float(row[EXCESS]), evidence, ctx))
    return out


def _weak_signal_warnings(ctx: _Context) -> list[dict[str, Any]]:
    config, needed = ctx.config, ("collective_now", "periods_since_collective",
                                  "repeat_same_topic_max")
    if not set(needed) <= set(ctx.panel.columns):
        return []  # a city without petition data has no weak signals
    collective = ctx.history("collective_now", 1).iloc[:, -1]
    quiet = ctx.history("periods_since_collective", 1).iloc[:, 0]
    repeat = ctx.history("repeat_same_topic_max", 1)
    first = (collective > 0) & (quiet >= config.quiet_periods)
    rising = (repeat.iloc[:, -1] >= config.repeat_topic_min) & (
        repeat.iloc[:, -1] > repeat.iloc[:, 0])
    out = []
    for area in first.index[first | rising]:
        trigger: dict[str, Any] = {}
        if first[area]:
            trigger |= {"collective_now": float(collective[area]),
                        "quiet_periods_before": float(quiet[area]),
                        "quiet_periods": config.quiet_periods}
        if rising[area]:
            trigger |= {"repeat_same_topic_max": float(repeat.at[area, repeat.columns[-1]]),
                        "repeat_same_topic_max_before": float(repeat.at[area, repeat.columns[0]]),
                        "repeat_topic_min": config.repeat_topic_min}
        score = trigger.get("collective_now", 0.0) + trigger.get("repeat_same_topic_max", 0.0)
        out.append(_warning(area, config.weak_signal_level, "sudden_group", "weak_signal",
                            ctx.as_of, 0, score,
                            ctx.observed_evidence(area, "sudden_group", trigger), ctx))
    return out


def _backlog_warnings(ctx: _Context) -> list[dict[str, Any]]:
    config = ctx.config
    if "overdue_open_cases" not in ctx.panel.columns:
        return []
    wide = ctx.history("overdue_open_cases", config.backlog_rise_periods)
    rising = (wide.diff(axis=1).iloc[:, 1:] > 0).all(axis=1)
    start, now = wide.iloc[:, 0], wide.iloc[:, -1]
    hit = rising & (now >= config.backlog_min)
    escalate = now >= config.backlog_escalate_ratio * start
    out = []
    for area in hit.index[hit]:
        level = config.backlog_level
        if escalate[area] and level != LEVELS[0]:
            level = LEVELS[LEVELS.index(level) - 1]
        trigger = {"overdue_open_cases": [float(v) for v in wide.loc[area]],
                   "periods": [p.date().isoformat() for p in wide.columns],
                   "backlog_min": config.backlog_min,
                   "escalated": bool(escalate[area])}
        out.append(_warning(area, level, "sinking_backlog", "backlog", ctx.as_of, 0,
                            float(now[area]),
                            ctx.observed_evidence(area, "sinking_backlog", trigger), ctx))
    return out


def _check(scores: pd.DataFrame, contributions: pd.DataFrame, as_of: pd.Timestamp) -> None:
    missing = {C.AREA_ID, C.PERIOD, HORIZON, RISK_PROBABILITY} - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack the columns {sorted(missing)}; pass the scoring output.")
    if len(contributions) != len(scores) or not contributions.index.equals(scores.index):
        raise ValueError("contributions must have one row per score row, indexed like scores.")
    other = set(pd.to_datetime(scores[C.PERIOD])) - {as_of}
    if other:
        raise ValueError(f"scores hold periods {sorted(str(p.date()) for p in other)} besides "
                         f"as_of {as_of.date()}; pass the scores of the as-of period only.")


def issue_warnings(scores: pd.DataFrame, contributions: pd.DataFrame,
                   panel_rows: pd.DataFrame, catalogue: pd.DataFrame, areas: pd.DataFrame,
                   surges: pd.DataFrame | None, config: WarningsConfig,
                   as_of: pd.Timestamp | str, model_version: str, *,
                   period: Literal["day", "week", "month"] = "week") -> list[dict[str, Any]]:
    """Every warning of the as-of period, highest level first.

    Args:
        scores: area_id, period (= as_of), horizon, expected_count, risk_probability.
        contributions: TreeSHAP values of the count model, one row per score row.
        panel_rows: panel rows of the as-of period and the ``backlog_rise_periods`` before it.
        catalogue: the feature catalogue (name, family, en, zh).
        areas: area_id, street_id, district_id (places a surge's unit in the hierarchy).
        surges: :func:`training.trend.surges` of street/district units (optional ``stream``).
        config: the [warnings] section.
        as_of: the as-of period (its start).
        model_version: recorded in each warning and its id.
        period: the panel's period length (day, week or month).

    Returns:
        JSON-serialisable dicts with exactly the keys in ``WARNING_KEYS``.
    """
    as_of = pd.Timestamp(as_of)
    _check(scores, contributions, as_of)
    ctx = _Context(scores, contributions, panel_rows, catalogue, config, as_of, model_version,
                   period)
    found = [*_probability_warnings(scores, contributions, catalogue, ctx),
             *_surge_warnings(surges, areas, ctx), *_weak_signal_warnings(ctx),
             *_backlog_warnings(ctx)]
    return sorted(found, key=lambda w: (LEVELS.index(w["level"]), RULES.index(w["rule"]),
                                        -w["score"], w["area_id"], w["horizon"]))
