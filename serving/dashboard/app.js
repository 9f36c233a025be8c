// riskgrid dashboard: the map, the ranked grids, a unit's trend and drivers, and the warnings,
// all from the scoring API called with the user's key. No framework, nothing from the internet.
"use strict";

const LEVELS = ["red", "orange", "yellow", "blue", "none"];
const ACTIONS = ["acknowledge", "handle", "close", "dismiss"];
// What /warning_action calls each step (serving/store.py TRANSITIONS names acknowledging "ack").
const ACTION_SENT = { acknowledge: "ack", handle: "handle", close: "close", dismiss: "dismiss" };
const DISMISS_REASONS = ["false_alarm", "duplicate", "already_handled", "out_of_scope", "data_error"];
// Which actions each status allows (the service enforces it; the buttons only follow).
const ALLOWED = {
  issued: ["acknowledge", "dismiss"], acknowledged: ["handle", "dismiss"],
  handled: ["close", "dismiss"], closed: [], dismissed: [],
};
const HISTORY = 26; // observed periods shown on the trend before the forecast
const TOP_DRIVERS = 8;
const KEY_STORE = "riskgrid.key";

const TEXT = {
  en: {
    title: "Grid risk dashboard", key: "API key", connect: "Connect", forget: "Forget key",
    not_connected: "Not connected", map: "Map", ranking: "Grids by risk", rank: "Rank",
    area: "Area", level: "Level", probability: "Probability", expected: "Expected count (interval)",
    trend: "Trend", drivers: "Why: drivers of the forecast", warnings: "Warnings",
    refresh: "Refresh", kind: "Kind", period: "Period", response: "Suggested response",
    status: "Status", actions: "Actions", pick: "Click a grid on the map or in the list.",
    loading: "Loading…", model: "Model version", as_of: "data as of", horizon: "forecasts one period ahead",
    tiles: "No shapes for these areas: drawn as tiles in id order, not to scale.",
    shapes: "Areas drawn from their shapes (north up).",
    no_warnings: "No active warnings in this key's scope.",
    reason: "Reason for dismissing", observed: "observed", forecast_line: "forecast",
    band: "interval", raises: "raises the forecast", lowers: "lowers it",
    street_trend: (unit, grid) => `Trend of ${unit} (all incidents), the unit containing ${grid}.`,
    unit_trend: (unit) => `Trend of ${unit} (all incidents).`,
    grid_counts: (g, now, prev, mean) =>
      `${g} itself: ${now} this period, ${prev} the period before, usually ${mean}.`,
    drivers_note: (g, base, expected) =>
      `Contributions to ${g}'s log expected count (baseline ${base}); expected ${expected}.`,
    changes: "Changed most since the previous period:",
    previous: (p) => `Previous period (${p.as_of}): ${p.risk_level}, ` +
      `${pct(p.risk_probability)}, expected ${fmt(p.expected_count)}.`,
    by: (h) => `by ${h.who || "?"}, ${String(h.at || "").slice(0, 16)}`,
    key_needed: "Enter an API key first.",
    levels: { red: "red (I)", orange: "orange (II)", yellow: "yellow (III)", blue: "blue (IV)", none: "none" },
    kinds: { sudden_group: "sudden group", cyclical_sector: "cyclical sector",
      spreading: "spreading", sinking_backlog: "sinking backlog" },
    statuses: { issued: "issued", acknowledged: "acknowledged", handled: "handled",
      closed: "closed", dismissed: "dismissed" },
    actionNames: { acknowledge: "Acknowledge", handle: "Handled", close: "Close", dismiss: "Dismiss" },
    reasons: { false_alarm: "false alarm", duplicate: "duplicate", already_handled: "already handled",
      out_of_scope: "not ours", data_error: "data error" },
  },
  zh: {
    title: "网格风险研判看板", key: "API 密钥", connect: "连接", forget: "清除密钥",
    not_connected: "未连接", map: "地图", ranking: "网格风险排名", rank: "排名",
    area: "区域", level: "等级", probability: "风险概率", expected: "预计数量(区间)",
    trend: "趋势", drivers: "原因：预测的主要因素", warnings: "预警",
    refresh: "刷新", kind: "类型", period: "时段", response: "建议处置",
    status: "状态", actions: "操作", pick: "请在地图或列表中点击一个网格。",
    loading: "加载中…", model: "模型版本", as_of: "数据截至", horizon: "预测下一期",
    tiles: "这些区域没有边界数据：按编号以方块示意，不按比例。",
    shapes: "按区域边界绘制(上北下南)。",
    no_warnings: "本密钥范围内暂无有效预警。",
    reason: "撤销原因", observed: "实际", forecast_line: "预测", band: "区间",
    raises: "推高预测", lowers: "降低预测",
    street_trend: (unit, grid) => `${grid}所在单位${unit}的趋势(全部事件)。`,
    unit_trend: (unit) => `${unit}的趋势(全部事件)。`,
    grid_counts: (g, now, prev, mean) => `${g}自身：本期${now}件，上期${prev}件，通常${mean}件。`,
    drivers_note: (g, base, expected) =>
      `各因素对${g}预计数量(对数)的贡献(基线${base})；预计${expected}件。`,
    changes: "与上期相比变化最大的因素：",
    previous: (p) => `上期(${p.as_of})：${TEXT.zh.levels[p.risk_level] || p.risk_level}，` +
      `${pct(p.risk_probability)}，预计${fmt(p.expected_count)}件。`,
    by: (h) => `${h.who || "?"}，${String(h.at || "").slice(0, 16)}`,
    key_needed: "请先输入 API 密钥。",
    levels: { red: "红色(I级)", orange: "橙色(II级)", yellow: "黄色(III级)", blue: "蓝色(IV级)", none: "无" },
    kinds: { sudden_group: "群体突发性风险", cyclical_sector: "行业周期性风险",
      spreading: "居民扩散性风险", sinking_backlog: "积案沉降性风险" },
    statuses: { issued: "已发布", acknowledged: "已签收", handled: "已处置", closed: "已办结", dismissed: "已撤销" },
    actionNames: { acknowledge: "签收", handle: "已处置", close: "办结", dismiss: "撤销" },
    reasons: { false_alarm: "误报", duplicate: "重复", already_handled: "已处理", out_of_scope: "非本辖区",
      data_error: "数据错误" },
  },
};

const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  lang: "en",
  areas: [],        // from /areas
  scores: {},       // area_id -> score at horizon 1
  warnings: [],     // from /warnings, updated in place by /warning_action
  history: {},      // warning_id -> last lifecycle event
  selected: null,
  explain: null,
  forecast: null,
  header: null,     // {model_version, as_of}
  mapError: "",     // why there is no map (e.g. too many grids for one request)
  tiles: false,
};

const $ = (id) => document.getElementById(id);
const t = (name) => TEXT[state.lang][name];
const fmt = (x, digits = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits).replace(/\.0+$/, ""));
const pct = (p) => `${Math.round(p * 100)}%`;

// --- DOM helpers (text goes in as text, never as HTML) ---------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  return fill(node, attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// --- the API ----------------------------------------------------------------------------------

class ApiError extends Error {}

function apiBase() {
  // The dashboard lives at <service>/dashboard/; the endpoints sit beside it.
  return location.pathname.replace(/dashboard\/?(index\.html)?$/, "");
}

async function api(endpoint, body = {}) {
  let response;
  try {
    response = await fetch(apiBase() + endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.key}` },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(`/${endpoint}: the service did not answer (${err.message}).`);
  }
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: the text is the message */ }
  if (!response.ok) {
    const detail = (data && (data.error || data.detail || data.message)) || text || response.statusText;
    throw new ApiError(`/${endpoint} answered ${response.status}: ` +
      (typeof detail === "string" ? detail : JSON.stringify(detail)));
  }
  return data;
}

function showError(err) {
  $("error-text").textContent = err instanceof Error ? err.message : String(err);
  $("error").hidden = false;
  if (!(err instanceof ApiError)) console.error(err);
}

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

// --- loading ---------------------------------------------------------------------------------

async function connect() {
  clearError();
  if (!state.key) { showError(t("key_needed")); return; }
  Object.assign(state, { areas: [], scores: {}, warnings: [], selected: null, explain: null,
    forecast: null, header: null, mapError: "" });
  $("model").textContent = t("loading");
  renderAll();
  const warnings = loadWarnings(); // runs beside the map; reports its own errors
  try {
    const areas = await api("areas", { level: "grid" });
    state.areas = areas.areas;
    state.header = { model_version: areas.model_version, as_of: areas.as_of };
    const scored = await api("score", { area_ids: areas.areas.map((a) => a.area_id), horizons: [1] });
    state.header = { model_version: scored.model_version, as_of: scored.as_of };
    state.scores = Object.fromEntries(scored.scores.map((s) => [s.area_id, s]));
  } catch (err) {
    state.mapError = err.message; // also said where the map would be
    showError(err);
  }
  renderAll();
  await warnings;
}

async function loadWarnings() {
  try {
    const found = await api("warnings", {});
    state.warnings = found.warnings;
    state.history = {};
    if (!state.header) state.header = { model_version: found.model_version, as_of: found.as_of };
  } catch (err) {
    showError(err);
  }
  renderWarnings();
  renderHeader();
}

async function select(areaId) {
  state.selected = areaId;
  state.explain = null;
  state.forecast = null;
  renderMap();
  renderRanking();
  renderSelection();
  const area = state.areas.find((a) => a.area_id === areaId);
  const parents = (area && area.parents) || {};
  const unit = parents.street || parents.district || "city";
  const [explained, trend] = await Promise.allSettled([
    api("explain", { area_id: areaId, horizon: 1 }),
    api("forecast", { unit_id: unit, horizon: 8 }),
  ]);
  if (state.selected !== areaId) return; // another grid was clicked meanwhile
  if (explained.status === "fulfilled") state.explain = explained.value; else showError(explained.reason);
  if (trend.status === "fulfilled") state.forecast = trend.value; else showError(trend.reason);
  renderSelection();
}

async function act(warning, action, reason, row) {
  const body = { warning_id: warning.warning_id, action: ACTION_SENT[action] };
  if (action === "dismiss") body.reason = reason;
  row.classList.add("busy");
  try {
    const answer = await api("warning_action", body);
    Object.assign(warning, answer.warning);
    state.history[warning.warning_id] = answer.history[answer.history.length - 1];
    clearError();
  } catch (err) {
    showError(err);
  }
  row.classList.remove("busy");
  renderWarnings();
}

// --- rendering -------------------------------------------------------------------------------

function renderAll() {
  renderText();
  renderHeader();
  renderMap();
  renderRanking();
  renderSelection();
  renderWarnings();
}

function renderText() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-text]")) {
    const value = t(node.dataset.text);
    if (typeof value === "string") node.textContent = value;
  }
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
  const legend = $("legend");
  legend.replaceChildren(...LEVELS.map((level) =>
    el("li", {}, el("span", { class: `swatch level-${level}` }), t("levels")[level])));
}

function renderHeader() {
  const h = state.header;
  $("model").textContent = h
    ? `${t("model")} ${h.model_version} · ${t("as_of")} ${h.as_of} · ${t("horizon")}`
    : t("not_connected");
}

function levelOf(areaId) {
  const s = state.scores[areaId];
  return s ? s.risk_level : "none";
}

function renderMap() {
  const map = $("map");
  map.replaceChildren();
  if (!state.areas.length) { $("map-note").textContent = state.mapError; return; }
  const shapes = state.areas.map((a) => rings(a.geometry));
  state.tiles = shapes.some((r) => r === null);
  $("map-note").textContent = state.tiles ? t("tiles") : t("shapes");
  const drawn = state.tiles ? tileShapes(state.areas) : fitShapes(shapes);
  map.setAttribute("viewBox", `0 0 ${drawn.width} ${drawn.height}`);
  state.areas.forEach((area, i) => {
    const { d, cx, cy } = drawn.items[i];
    const s = state.scores[area.area_id];
    const label = s ? `${area.name} · ${pct(s.risk_probability)}` : area.name;
    const group = svg("g", { class: "area", "data-area": area.area_id, tabindex: 0,
      onclick: () => select(area.area_id) },
    svg("title", {}, `${area.name} (${area.area_id}): ${t("levels")[levelOf(area.area_id)]}`),
    svg("path", { d, class: `level-${levelOf(area.area_id)}` +
      (area.area_id === state.selected ? " selected" : ""), "fill-rule": "evenodd" }));
    if (state.areas.length <= 60) {
      group.append(svg("text", { x: cx, y: cy, "text-anchor": "middle",
        "dominant-baseline": "middle" }, label));
    }
    group.addEventListener("keydown", (e) => { if (e.key === "Enter") select(area.area_id); });
    map.append(group);
  });
}

function rings(geometry) {
  if (!geometry) return null;
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return null;
}

function tileShapes(areas) {
  const cols = Math.ceil(Math.sqrt(areas.length));
  const size = 100, gap = 8;
  const items = areas.map((_, i) => {
    const x = gap + (i % cols) * (size + gap), y = gap + Math.floor(i / cols) * (size + gap);
    return { d: `M${x},${y}h${size}v${size}h${-size}Z`, cx: x + size / 2, cy: y + size / 2 };
  });
  const rowsUsed = Math.ceil(areas.length / cols);
  return { items, width: gap + cols * (size + gap), height: gap + rowsUsed * (size + gap) };
}

function fitShapes(shapes) {
  // Projected coordinates (metres or feet): fit the bounding box, and flip y so north is up.
  const points = shapes.flat(2);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY) || 1;
  const scale = 1000 / span, pad = 10;
  const X = (x) => pad + (x - minX) * scale, Y = (y) => pad + (maxY - y) * scale;
  const items = shapes.map((polygon) => {
    const d = polygon.map((ring) => "M" + ring.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
      .join("L") + "Z").join("");
    const own = polygon.flat();
    const ox = own.map((p) => p[0]), oy = own.map((p) => p[1]);
    return { d, cx: X((Math.min(...ox) + Math.max(...ox)) / 2), cy: Y((Math.min(...oy) + Math.max(...oy)) / 2) };
  });
  return { items, width: 2 * pad + (maxX - minX) * scale, height: 2 * pad + (maxY - minY) * scale };
}

function renderRanking() {
  const rows = state.areas
    .filter((a) => state.scores[a.area_id])
    .sort((a, b) => state.scores[a.area_id].rank - state.scores[b.area_id].rank)
    .map((area) => {
      const s = state.scores[area.area_id];
      return el("tr", { "data-area": area.area_id, class: area.area_id === state.selected ? "selected" : null,
        onclick: () => select(area.area_id) },
      el("td", { class: "num" }, String(s.rank)),
      el("td", {}, area.name),
      el("td", {}, el("span", { class: `chip level-${s.risk_level}` }, t("levels")[s.risk_level] || s.risk_level)),
      el("td", { class: "num" }, pct(s.risk_probability)),
      el("td", { class: "num" }, `${fmt(s.expected_count)} (${fmt(s.interval[0])}–${fmt(s.interval[1])})`));
    });
  $("ranking").tBodies[0].replaceChildren(...rows);
}

function renderSelection() {
  const area = state.areas.find((a) => a.area_id === state.selected);
  if (!area) {
    $("trend-note").textContent = t("pick");
    $("drivers-note").textContent = "";
    $("trend").replaceChildren();
    $("drivers").replaceChildren();
    $("changes").replaceChildren();
    return;
  }
  renderTrend(area);
  renderDrivers(area);
}

function renderTrend(area) {
  const f = state.forecast;
  if (!f) { $("trend-note").textContent = t("loading"); $("trend").replaceChildren(); return; }
  // A grid has no trend of its own in the API: show its street's, and the grid's own recent
  // counts from the explanation's feature values.
  let note = t("street_trend")(f.unit_id, area.name);
  const values = Object.fromEntries(((state.explain && state.explain.contributions) || [])
    .map((c) => [c.feature, c.value]));
  if ("all_now" in values) {
    note += (state.lang === "zh" ? "" : " ") + t("grid_counts")(area.name, fmt(values.all_now), fmt(values.all_prev), fmt(values.all_mean_all));
  }
  $("trend-note").textContent = note;
  $("trend").replaceChildren(trendChart(f.points));
}

function trendChart(all) {
  const firstForecast = all.findIndex((p) => p.is_forecast);
  const start = Math.max(0, (firstForecast < 0 ? all.length : firstForecast) - HISTORY);
  const points = all.slice(start);
  const W = 640, H = 220, L = 44, R = 12, T = 12, B = 28;
  const highs = points.map((p) => Math.max(p.high, p.observed ?? 0));
  const lows = points.map((p) => Math.min(p.low, p.observed ?? Infinity));
  const top = Math.max(...highs) * 1.05, bottom = Math.max(0, Math.min(...lows) * 0.9);
  const x = (i) => L + (i * (W - L - R)) / Math.max(1, points.length - 1);
  const y = (v) => T + ((top - v) * (H - T - B)) / (top - bottom || 1);
  const line = (pairs) => pairs.map(([i, v], k) => `${k ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const band = line(points.map((p, i) => [i, p.high])) +
    points.map((p, i) => [i, p.low]).reverse().map(([i, v]) => `L${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("") + "Z";
  const observed = points.map((p, i) => [i, p.observed]).filter(([, v]) => v !== null);
  const ahead = points.map((p, i) => [i, p.forecast]).filter(([i]) => points[i].is_forecast || points[i + 1]?.is_forecast);
  const cut = points.findIndex((p) => p.is_forecast);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "trend-chart", role: "img" },
    svg("path", { d: band, class: "band" }),
    svg("path", { d: line(points.map((p, i) => [i, p.forecast])), class: "fit" }),
    svg("path", { d: line(ahead), class: "ahead" }),
    svg("path", { d: line(observed), class: "observed" }),
    observed.map(([i, v]) => svg("circle", { cx: x(i), cy: y(v), r: 2.2, class: "observed-dot" })));
  if (cut > 0) {
    chart.append(svg("line", { x1: x(cut - 0.5), x2: x(cut - 0.5), y1: T, y2: H - B, class: "now" }));
  }
  for (const v of [bottom, (bottom + top) / 2, top]) {
    chart.append(svg("text", { x: L - 6, y: y(v), class: "axis", "text-anchor": "end",
      "dominant-baseline": "middle" }, fmt(v, 0)));
  }
  for (const i of [0, cut > 0 ? cut : null, points.length - 1]) {
    if (i === null) continue;
    chart.append(svg("text", { x: x(i), y: H - 8, class: "axis",
      "text-anchor": i === 0 ? "start" : i === points.length - 1 ? "end" : "middle" }, points[i].period));
  }
  const legend = el("p", { class: "trend-legend muted" },
    el("span", { class: "key observed" }), t("observed"), " ",
    el("span", { class: "key ahead" }), t("forecast_line"), " ",
    el("span", { class: "key band" }), `${t("band")} (${Math.round((state.forecast.interval || 0.8) * 100)}%)`);
  return el("div", {}, chart, legend);
}

function renderDrivers(area) {
  const e = state.explain;
  if (!e) { $("drivers-note").textContent = t("loading"); $("drivers").replaceChildren(); $("changes").replaceChildren(); return; }
  $("drivers-note").textContent = t("drivers_note")(area.name, fmt(e.base_value, 2),
    `${fmt(e.expected_count)}, ${t("levels")[e.risk_level] || e.risk_level} ${pct(e.risk_probability)}`);
  const top = e.contributions.slice().sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
    .slice(0, TOP_DRIVERS);
  const widest = Math.max(...top.map((d) => Math.abs(d.contribution)), 1e-9);
  $("drivers").replaceChildren(...top.map((d) => {
    const share = (50 * Math.abs(d.contribution)) / widest;
    const up = d.contribution > 0;
    return el("div", { class: "driver", title: `${d.feature} = ${fmt(d.value, 2)}` },
      el("span", { class: "label" }, state.lang === "zh" ? d.label_zh : d.label_en,
        el("span", { class: "value" }, ` = ${fmt(d.value, 2)}`)),
      el("span", { class: "bar-track" }, el("span", {
        class: `bar ${up ? "up" : "down"}`,
        style: `${up ? "left" : "right"}: 50%; width: ${share.toFixed(1)}%`,
        title: up ? t("raises") : t("lowers") })),
      el("span", { class: "num" }, (up ? "+" : "") + fmt(d.contribution, 3)));
  }));
  const changes = (e.changes || []).slice(0, 3).map((c) => el("li", {},
    `${state.lang === "zh" ? c.label_zh : c.label_en}: ${fmt(c.previous_value, 2)} → ${fmt(c.value, 2)} ` +
    `(${c.contribution > 0 ? "+" : ""}${fmt(c.contribution, 3)})`));
  $("changes").replaceChildren(
    ...(e.previous ? [el("li", { class: "muted" }, t("previous")(e.previous))] : []),
    ...(changes.length ? [el("li", { class: "muted" }, t("changes")), ...changes] : []));
}

function renderWarnings() {
  const rows = state.warnings.map((w) => warningRow(w));
  $("warnings").tBodies[0].replaceChildren(...rows);
  $("warnings-note").textContent = state.header && !state.warnings.length ? t("no_warnings") : "";
}

function warningRow(w) {
  const reason = el("select", { class: "reason", "aria-label": t("reason"), title: t("reason") },
    DISMISS_REASONS.map((r) => el("option", { value: r }, t("reasons")[r])));
  const row = el("tr", { "data-warning-id": w.warning_id, "data-status": w.status });
  const buttons = ACTIONS.map((action) => el("button", {
    type: "button", "data-action": action, disabled: !(ALLOWED[w.status] || ACTIONS).includes(action),
    onclick: () => act(w, action, reason.value, row),
  }, t("actionNames")[action]));
  const area = state.areas.find((a) => a.area_id === w.area_id);
  row.append(
    el("td", {}, el("span", { class: `chip level-${w.level}` }, t("levels")[w.level] || w.level)),
    el("td", {}, t("kinds")[w.kind] || w.kind, el("div", { class: "muted small" }, w.rule || "")),
    el("td", {}, area ? area.name : w.area_id),
    el("td", { class: "period" }, w.period, w.horizon ? el("div", { class: "muted small" }, `+${w.horizon}`) : null),
    el("td", { class: "response" }, state.lang === "zh" ? w.response_zh : w.response_en),
    el("td", { class: "status" }, t("statuses")[w.status] || w.status, state.history[w.warning_id]
      ? el("div", { class: "muted small" }, t("by")(state.history[w.warning_id])) : null),
    el("td", { class: "actions" }, buttons, reason));
  return row;
}

// --- wiring ----------------------------------------------------------------------------------

function init() {
  $("key").value = state.key;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key").value.trim();
    sessionStorage.setItem(KEY_STORE, state.key);
    connect();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    state.key = "";
    $("key").value = "";
    Object.assign(state, { areas: [], scores: {}, warnings: [], selected: null, header: null,
      mapError: "" });
    renderAll();
  });
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh" : "en";
    renderAll();
  });
  $("refresh-warnings").addEventListener("click", () => { if (state.key) loadWarnings(); });
  $("error-close").addEventListener("click", clearError);
  renderAll();
  if (state.key) connect();
}

init();
