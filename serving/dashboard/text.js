// riskgrid dashboard: every label in Chinese and English, and which language the page opens in.
"use strict";

const LANG_STORE = "riskgrid.lang";

const TEXT = {
  en: {
    title: "Grid risk dashboard", key: "API key", connect: "Connect", forget: "Forget key",
    not_connected: "Not connected", map: "Map", ranking: "Grids by risk", rank: "Rank",
    area: "Area", level: "Level", probability: "Probability", expected: "Expected count (interval)",
    safety: "Safety index (0–100)",
    safety_change: (c, rank, n) => `${c > 0 ? "+" : ""}${c} on the period before; rank ${rank} of ${n} (1 = safest)`,
    trend: "Trend", drivers: "Why: what moves the forecast", warnings: "Warnings",
    refresh: "Refresh", kind: "Kind", period: "Period", response: "Suggested response",
    status: "Status", actions: "Actions", pick: "Click a grid on the map or in the list.",
    loading: "Loading…", model: "Model version", as_of: "data as of", horizon: "forecasts one period ahead",
    as_of_label: "As of", search: "Search", search_hint: "name or id", all_levels: "all levels",
    all_kinds: "all kinds", all_units: "whole scope", unit: "Unit", export_ranking: "Export list (CSV)",
    export_warnings: "Export warnings (CSV)", print: "Print", whole_map: "Whole map",
    page_size: "Rows per page", prev: "‹ Previous", next: "Next ›",
    rows: (a, b, n) => (n ? `rows ${a}–${b} of ${n}` : "no grids match"),
    latest: "latest", ledger_source: (s) => `ledger: ${s}`,
    past_header: (p, v) => `Forecasts as of ${p.as_of}, as issued then (${p.source}, model ${p.model_version}, ` +
      `${String(p.issued_at).slice(0, 16).replace("T", " ")}) · now serving model ${v}`,
    past_drivers: "The ledger keeps a past period's forecasts, not their reasons; its model " +
      "is no longer served, so there are no drivers to show. Pick the latest period for drivers.",
    tiles: "No shapes for these areas: drawn as tiles grouped by unit, not to scale.",
    shapes: "Areas drawn from their shapes (north up).",
    bounds: (level) => `Thick lines: ${level} boundaries.`,
    no_warnings: "No active warnings in this key's scope.",
    set_by_meeting: "set by the meeting", model_level: (l) => `model: ${l}`,
    overridden: (o) => `${o.reason_en || o.reason_code}: ${o.note} (${o.who}, ${o.at.slice(0, 16)})`,
    data_alarms: "Data alarms (about the data, not risk: a quiet source is not a safe area)",
    data_flag: "data alarm", data_flag_title: "This forecast rests on a source with a data alarm",
    no_past_warnings: (p) => `No warnings of ${p} are still active in this key's scope.`,
    reason: "Reason for dismissing", note: "Note (optional)", dismiss_title: "Dismiss this warning",
    confirm: "Dismiss", cancel: "Cancel",
    observed: "observed", forecast_line: "forecast", band: "interval",
    street_trend: (unit, grid) => `Trend of ${unit} (all incidents), the unit containing ${grid}.`,
    grid_counts: (g, now, prev, mean) =>
      `${g} itself: ${now} this period, ${prev} the period before, usually ${mean}.`,
    drivers_note: (g, expected) => `${g} is expected to have ${expected} next period. Each line: ` +
      "the factor, its value here, what a grid of the city usually has, and how much it moves " +
      "this forecast.",
    driver: (label, value, usual, effect) =>
      `${label}: ${value}${usual === null ? "" : `, usually ${usual}`}: ${effect}`,
    raises: (p) => `raises the forecast by ${p}%`, lowers: (p) => `lowers the forecast by ${p}%`,
    barely: "barely moves the forecast",
    changes: "Changed most since the previous period:",
    change: (label, before, now, effect) => `${label}: ${before} → ${now} (${effect})`,
    previous: (p) => `Previous period (${p.as_of}): ${TEXT.en.levels[p.risk_level] || p.risk_level}, ` +
      `${pct(p.risk_probability)}, expected ${fmt(p.expected_count)}.`,
    by: (h) => `by ${h.who || "?"}, ${String(h.at || "").slice(0, 16)}`,
    key_needed: "Enter an API key first.",
    level_names: { grid: "grid", community: "community", street: "street", district: "district", city: "city" },
    levels: { red: "red (I)", orange: "orange (II)", yellow: "yellow (III)", blue: "blue (IV)", none: "none" },
    kinds: { sudden_group: "sudden group", cyclical_sector: "cyclical sector",
      spreading: "spreading", sinking_backlog: "sinking backlog" },
    statuses: { issued: "issued", acknowledged: "acknowledged", handled: "handled",
      closed: "closed", dismissed: "dismissed" },
    actionNames: { acknowledge: "Acknowledge", handle: "Handled", close: "Close", dismiss: "Dismiss…" },
    reasons: { false_alarm: "false alarm", duplicate: "duplicate", already_handled: "already handled",
      out_of_scope: "not ours", data_error: "data error" },
  },
  zh: {
    title: "网格风险研判看板", key: "API 密钥", connect: "连接", forget: "清除密钥",
    not_connected: "未连接", map: "地图", ranking: "网格风险排名", rank: "排名",
    area: "区域", level: "等级", probability: "风险概率", expected: "预计数量(区间)",
    safety: "平安指数(0–100)",
    safety_change: (c, rank, n) => `比上期${c > 0 ? "+" : ""}${c}；${n}个网格中排第${rank}(1为最平安)`,
    trend: "趋势", drivers: "原因：影响预测的因素", warnings: "预警",
    refresh: "刷新", kind: "类型", period: "时段", response: "建议处置",
    status: "状态", actions: "操作", pick: "请在地图或列表中点击一个网格。",
    loading: "加载中…", model: "模型版本", as_of: "数据截至", horizon: "预测下一期",
    as_of_label: "研判时点", search: "搜索", search_hint: "名称或编号", all_levels: "全部等级",
    all_kinds: "全部类型", all_units: "全部辖区", unit: "单位", export_ranking: "导出排名(CSV)",
    export_warnings: "导出预警(CSV)", print: "打印", whole_map: "全图",
    page_size: "每页行数", prev: "‹ 上一页", next: "下一页 ›",
    rows: (a, b, n) => (n ? `第${a}–${b}行，共${n}行` : "没有符合条件的网格"),
    latest: "最新", ledger_source: (s) => `台账：${s}`,
    past_header: (p, v) => `${p.as_of}的预测(当时发布：${p.source}，模型${p.model_version}，` +
      `${String(p.issued_at).slice(0, 16).replace("T", " ")}) · 当前模型${v}`,
    past_drivers: "预测台账只保存往期的预测结果，不保存原因；当时的模型已不再使用，无法给出影响因素。" +
      "选择最新一期可查看原因。",
    tiles: "这些区域没有边界数据：按所属单位分组以方块示意，不按比例。",
    shapes: "按区域边界绘制(上北下南)。",
    bounds: (level) => `粗线：${level}边界。`,
    no_warnings: "本密钥范围内暂无有效预警。",
    set_by_meeting: "会议调整", model_level: (l) => `模型：${l}`,
    overridden: (o) => `${o.reason_zh || o.reason_code}：${o.note}(${o.who}，${o.at.slice(0, 16)})`,
    data_alarms: "数据异常提示(是数据的问题，不是风险：没有数据不等于平安无事)",
    data_flag: "数据异常", data_flag_title: "这个预测所依据的数据来源有异常",
    no_past_warnings: (p) => `本密钥范围内没有${p}仍有效的预警。`,
    reason: "撤销原因", note: "备注(可选)", dismiss_title: "撤销这条预警",
    confirm: "撤销", cancel: "取消",
    observed: "实际", forecast_line: "预测", band: "区间",
    street_trend: (unit, grid) => `${grid}所在单位${unit}的趋势(全部事件)。`,
    grid_counts: (g, now, prev, mean) => `${g}自身：本期${now}件，上期${prev}件，通常${mean}件。`,
    drivers_note: (g, expected) => `${g}下一期预计${expected}。每行依次为：因素、本网格的数值、` +
      "全市网格通常的数值，以及它对本次预测的影响。",
    driver: (label, value, usual, effect) =>
      `${label}：${value}${usual === null ? "" : `，通常${usual}`}：${effect}`,
    raises: (p) => `使预测上升${p}%`, lowers: (p) => `使预测下降${p}%`,
    barely: "对预测几乎没有影响",
    changes: "与上期相比变化最大的因素：",
    change: (label, before, now, effect) => `${label}：${before} → ${now}(${effect})`,
    previous: (p) => `上期(${p.as_of})：${TEXT.zh.levels[p.risk_level] || p.risk_level}，` +
      `${pct(p.risk_probability)}，预计${fmt(p.expected_count)}件。`,
    by: (h) => `${h.who || "?"}，${String(h.at || "").slice(0, 16)}`,
    key_needed: "请先输入 API 密钥。",
    level_names: { grid: "网格", community: "社区", street: "街道", district: "区县", city: "全市" },
    levels: { red: "红色(I级)", orange: "橙色(II级)", yellow: "黄色(III级)", blue: "蓝色(IV级)", none: "无" },
    kinds: { sudden_group: "群体突发性风险", cyclical_sector: "行业周期性风险",
      spreading: "居民扩散性风险", sinking_backlog: "积案沉降性风险" },
    statuses: { issued: "已发布", acknowledged: "已签收", handled: "已处置", closed: "已办结", dismissed: "已撤销" },
    actionNames: { acknowledge: "签收", handle: "已处置", close: "办结", dismiss: "撤销…" },
    reasons: { false_alarm: "误报", duplicate: "重复", already_handled: "已处理", out_of_scope: "非本辖区",
      data_error: "数据错误" },
  },
};

// The page opens in the language chosen last time; else the browser's, if it is Chinese or
// English; else Chinese, the language of the command centres it is made for.
function chooseLanguage(stored, browserLanguages) {
  if (stored === "zh" || stored === "en") return stored;
  for (const tag of browserLanguages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base === "zh" || base === "en") return base;
  }
  return "zh";
}

function storedLanguage() {
  try { return localStorage.getItem(LANG_STORE); } catch (_) { return null; }
}

function rememberLanguage(lang) {
  try { localStorage.setItem(LANG_STORE, lang); } catch (_) { /* private mode: not kept */ }
}

const fmt = (x, digits = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits).replace(/\.0+$/, ""));
const pct = (p) => `${Math.round(p * 100)}%`;

// A feature's value as people read it: whole numbers as they are, small ones with two decimals.
function plain(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const v = Number(x);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return String(Number(v.toFixed(a >= 100 ? 0 : a >= 1 ? 1 : 2)));
}

// exp(contribution) - 1: a TreeSHAP contribution to the log expected count, as a relative effect.
function effectText(contribution) {
  const change = Math.exp(contribution) - 1;
  const percent = Math.round(Math.abs(change) * 100);
  if (percent < 1) return TEXT[state.lang].barely;
  return change > 0 ? TEXT[state.lang].raises(percent) : TEXT[state.lang].lowers(percent);
}
