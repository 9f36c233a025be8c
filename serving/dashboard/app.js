// riskgrid dashboard: the ranked grids, a grid's trend and drivers, and the warnings, all from
// the scoring API called with the user's key. No framework, nothing from the internet.
// Labels: text.js; the map: map.js; CSV and printing: export.js.
"use strict";

const LEVELS = ["red", "orange", "yellow", "blue", "none"];
const KINDS = ["sudden_group", "cyclical_sector", "spreading", "sinking_backlog"];
const ACTIONS = ["acknowledge", "handle", "close", "dismiss"];
// What /warning_action calls each step (the store's TRANSITIONS name acknowledging "ack").
const ACTION_SENT = { acknowledge: "ack", handle: "handle", close: "close", dismiss: "dismiss" };
const DISMISS_REASONS = ["false_alarm", "duplicate", "already_handled", "out_of_scope", "data_error"];
// Which actions each status allows (the service enforces it; the buttons only follow).
const ALLOWED = {
  issued: ["acknowledge", "dismiss"], acknowledged: ["handle", "dismiss"],
  handled: ["close", "dismiss"], closed: [], dismissed: [],
};
const UNIT_LEVELS = ["community", "street", "district"];
const PAGE_SIZES = [25, 50, 100, 200];
const HISTORY = 26; // observed periods shown on the trend before the forecast
const TOP_DRIVERS = 8;
const KEY_STORE = "riskgrid.key";

const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  lang: chooseLanguage(storedLanguage(), navigator.languages || [navigator.language]),
  areas: [],        // grids from /areas
  units: {},        // community, street and district id -> {name, level, parents, geometry}
  scores: {},       // area_id -> score at horizon 1 (live, or the ledger's for a past period)
  safety: {},       // area_id -> its safety index (/safety_index) for the period shown
  warnings: [],     // from /warnings, updated in place by /warning_action
  alarms: [],       // data alarms from /data_quality for the period shown
  history: {},      // warning_id -> last lifecycle event
  periods: [],      // ledger periods from /periods
  latest: null,     // the latest period (scored live)
  asOf: null,       // the period shown; null: the latest
  vintage: null,    // the ledger vintage shown for a past period
  filters: { search: "", level: "", kind: "", unit: "" },
  page: 0,
  pageSize: 50,
  printing: false,
  selected: null,
  explain: null,
  forecast: null,
  header: null,     // {model_version, as_of}
  mapError: "",     // why there is no map (e.g. too many grids for one request)
  tiles: false,
};

const $ = (id) => document.getElementById(id);
const t = (name) => TEXT[state.lang][name];

// --- DOM helpers (text goes in as text, never as HTML) ---------------------------------------

function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
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
  Object.assign(state, { areas: [], units: {}, scores: {}, safety: {}, warnings: [], alarms: [], periods: [], latest: null,
    asOf: null, vintage: null, selected: null, explain: null, forecast: null, header: null,
    mapError: "", page: 0 });
  state.filters.unit = "";
  $("model").textContent = t("loading");
  renderAll();
  const units = loadUnits();
  const periods = loadPeriods();
  try {
    const areas = await api("areas", { level: "grid" });
    state.areas = areas.areas;
    state.latest = areas.as_of;
    state.header = { model_version: areas.model_version, as_of: areas.as_of };
    await loadScores();
  } catch (err) {
    state.mapError = err.message; // also said where the map would be
    showError(err);
  }
  await Promise.all([units, periods]);
  renderAll();
  await Promise.all([loadWarnings(), loadAlarms()]);
}

async function loadAlarms() {
  try {
    state.alarms = (await api("data_quality", state.asOf ? { as_of: state.asOf } : {})).alarms;
  } catch (err) {
    state.alarms = [];
    showError(err);
  }
  renderAlarms();
}

function renderAlarms() {
  const list = $("data-alarms");
  list.hidden = !state.alarms.length;
  list.replaceChildren(el("li", { class: "muted" }, t("data_alarms")), ...state.alarms.map((a) =>
    el("li", { "data-kind": a.kind }, state.lang === "zh" ? a.sentence_zh : a.sentence_en)));
}

async function loadUnits() {
  const found = await Promise.allSettled(UNIT_LEVELS.map((level) => api("areas", { level })));
  for (const answer of found) {
    if (answer.status !== "fulfilled") continue; // e.g. no unit of that level in the scope
    for (const unit of answer.value.areas) state.units[unit.area_id] = unit;
  }
}

async function loadPeriods() {
  try {
    const found = await api("periods", {});
    state.periods = found.periods;
    state.latest = state.latest || found.as_of;
  } catch (err) {
    showError(err);
  }
  renderPeriods();
}

async function loadScores() {
  const ids = state.areas.map((a) => a.area_id);
  const past = state.asOf && state.asOf !== state.latest;
  const answer = past
    ? await api("ledger_scores", { as_of: state.asOf, area_ids: ids })
    : await api("score", { area_ids: ids, horizons: [1] });
  state.vintage = past ? answer.vintage : null;
  state.header = { model_version: answer.model_version, as_of: answer.as_of };
  state.scores = Object.fromEntries(answer.scores.map((s) => [s.area_id, s]));
  // The safety index is of the data, not of a forecast: any period has one. Without it the
  // column stays empty and the rest of the page works.
  const index = await api("safety_index", { area_ids: ids, as_of: answer.as_of }).catch(() => null);
  state.safety = index ? Object.fromEntries(index.index.map((r) => [r.area_id, r])) : {};
}

async function loadWarnings() {
  try {
    const past = state.asOf && state.asOf !== state.latest;
    const found = await api("warnings", past ? { as_of: state.asOf } : {});
    state.warnings = found.warnings;
    state.history = {};
    if (!state.header) state.header = { model_version: found.model_version, as_of: found.as_of };
  } catch (err) {
    showError(err);
  }
  renderWarnings();
  renderHeader();
}

async function changePeriod(value) {
  state.asOf = value === state.latest ? null : value;
  Object.assign(state, { selected: null, explain: null, forecast: null, page: 0 });
  clearError();
  $("model").textContent = t("loading");
  try {
    await loadScores();
  } catch (err) {
    state.scores = {};
    showError(err);
  }
  renderAll();
  await Promise.all([loadWarnings(), loadAlarms()]);
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
  const when = state.asOf ? { as_of: state.asOf } : {};
  // A past period's reasons exist only while the model that issued its forecasts is served.
  const explainable = !state.vintage || state.vintage.model_version === state.header.model_version;
  const [explained, trend] = await Promise.allSettled([
    explainable ? api("explain", { area_id: areaId, horizon: 1, ...when }) : Promise.resolve(null),
    api("forecast", { unit_id: unit, horizon: 8, ...when }),
  ]);
  if (state.selected !== areaId) return; // another grid was clicked meanwhile
  if (explained.status === "fulfilled") state.explain = explained.value || "none"; else showError(explained.reason);
  if (trend.status === "fulfilled") state.forecast = trend.value; else showError(trend.reason);
  renderSelection();
}

async function act(warning, action, reason, note) {
  const body = { warning_id: warning.warning_id, action: ACTION_SENT[action] };
  if (action === "dismiss") body.reason = reason;
  if (note) body.note = note;
  const row = document.querySelector(`#warnings tr[data-warning-id="${CSS.escape(warning.warning_id)}"]`);
  if (row) row.classList.add("busy");
  try {
    const answer = await api("warning_action", body);
    Object.assign(warning, answer.warning);
    state.history[warning.warning_id] = answer.history[answer.history.length - 1];
    clearError();
  } catch (err) {
    showError(err);
  }
  renderWarnings();
}

// --- what is shown: the filters --------------------------------------------------------------

function unitName(id) {
  if (id === "city") return t("level_names").city;
  const unit = state.units[id] || state.areas.find((a) => a.area_id === id);
  return unit ? unit.name : id;
}

function ancestorsOf(id) {
  const unit = state.units[id] || state.areas.find((a) => a.area_id === id);
  return [id, ...Object.values((unit && unit.parents) || {})];
}

function matchesSearch(id) {
  const q = state.filters.search.trim().toLowerCase();
  return !q || id.toLowerCase().includes(q) || unitName(id).toLowerCase().includes(q);
}

function inUnit(id) {
  return !state.filters.unit || ancestorsOf(id).includes(state.filters.unit);
}

// Grids passing every filter; kind: the grid, or a unit above it, has a warning of that kind.
function visibleGrids() {
  const { level, kind } = state.filters;
  const warned = new Set(state.warnings.filter((w) => w.kind === kind).map((w) => w.area_id));
  return state.areas.filter((a) => matchesSearch(a.area_id) && inUnit(a.area_id) &&
    (!level || levelOf(a.area_id) === level) &&
    (!kind || ancestorsOf(a.area_id).some((id) => warned.has(id))));
}

function rankedGrids() {
  return visibleGrids().filter((a) => state.scores[a.area_id])
    .sort((a, b) => state.scores[a.area_id].rank - state.scores[b.area_id].rank);
}

function visibleWarnings() {
  const { level, kind } = state.filters;
  return state.warnings.filter((w) => matchesSearch(w.area_id) && inUnit(w.area_id) &&
    (!level || w.level === level) && (!kind || w.kind === kind));
}

function levelOf(areaId) {
  const s = state.scores[areaId];
  return s ? s.risk_level : "none";
}

// --- rendering -------------------------------------------------------------------------------

function renderAll() {
  renderText();
  renderAlarms();
  renderControls();
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
  $("search").placeholder = t("search_hint");
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
  $("legend").replaceChildren(...LEVELS.map((level) =>
    el("li", {}, el("span", { class: `swatch level-${level}` }), t("levels")[level])));
}

function options(select, entries, value) {
  select.replaceChildren(...entries.map(([v, label]) => el("option", { value: v }, label)));
  select.value = entries.some(([v]) => v === value) ? value : entries[0][0];
}

function renderControls() {
  options($("filter-level"), [["", t("all_levels")], ...LEVELS.map((l) => [l, t("levels")[l]])],
    state.filters.level);
  options($("filter-kind"), [["", t("all_kinds")], ...KINDS.map((k) => [k, t("kinds")[k]])],
    state.filters.kind);
  const units = Object.values(state.units).sort((a, b) =>
    UNIT_LEVELS.indexOf(b.level) - UNIT_LEVELS.indexOf(a.level) || a.area_id.localeCompare(b.area_id));
  options($("filter-unit"), [["", t("all_units")], ...units.map((u) =>
    [u.area_id, `${t("level_names")[u.level] || u.level}: ${u.name}`])], state.filters.unit);
  options($("page-size"), PAGE_SIZES.map((n) => [String(n), String(n)]), String(state.pageSize));
  renderPeriods();
}

function renderPeriods() {
  const latest = state.latest;
  const past = state.periods.filter((p) => p.as_of !== latest);
  const entries = latest ? [[latest, `${latest} · ${t("latest")}`]] : [];
  entries.push(...past.map((p) => [p.as_of, `${p.as_of} · ${t("ledger_source")(p.source)}`]));
  const select = $("as-of");
  if (!entries.length) { select.replaceChildren(); return; }
  options(select, entries, state.asOf || latest);
}

function renderHeader() {
  const h = state.header;
  if (!h) { $("model").textContent = t("not_connected"); return; }
  $("model").textContent = state.vintage ? t("past_header")(state.vintage, h.model_version)
    : `${t("model")} ${h.model_version} · ${t("as_of")} ${h.as_of} · ${t("horizon")}`;
}

function renderRanking() {
  const all = rankedGrids();
  const size = state.printing ? all.length || 1 : state.pageSize;
  const pages = Math.max(1, Math.ceil(all.length / size));
  state.page = Math.min(state.page, pages - 1);
  const start = state.printing ? 0 : state.page * size;
  const rows = all.slice(start, start + size).map((area) => {
    const s = state.scores[area.area_id];
    return el("tr", { "data-area": area.area_id, class: area.area_id === state.selected ? "selected" : null,
      onclick: () => select(area.area_id) },
    el("td", { class: "num" }, String(s.rank)),
    el("td", {}, area.name, area.name !== area.area_id ? el("span", { class: "muted small" }, ` ${area.area_id}`) : null),
    el("td", {}, el("span", { class: `chip level-${s.risk_level}` }, t("levels")[s.risk_level] || s.risk_level),
      s.override ? el("span", { class: "set", title: t("overridden")(s.override) }, t("set_by_meeting")) : null,
      s.override ? el("span", { class: "muted small" }, ` ${t("model_level")(t("levels")[s.model_level] || s.model_level)}`) : null,
      (s.data_alarms || []).length ? el("span", { class: "data-flag", title: t("data_flag_title") }, t("data_flag")) : null),
    el("td", { class: "num" }, pct(s.risk_probability)),
    el("td", { class: "num" }, `${fmt(s.expected_count)} (${fmt(s.interval[0])}–${fmt(s.interval[1])})`),
    safetyCell(state.safety[area.area_id]));
  });
  $("ranking").tBodies[0].replaceChildren(...rows);
  $("pager-text").textContent = t("rows")(all.length ? start + 1 : 0, start + rows.length, all.length);
  $("prev-page").disabled = state.page === 0;
  $("next-page").disabled = state.page >= pages - 1;
}

function safetyCell(r) {
  const value = r && r.value !== null ? r.value.toFixed(1) : "–";
  const title = r && r.change !== null ? t("safety_change")(r.change.toFixed(1), r.rank, r.units) : null;
  return el("td", { class: "num safety", title }, value);
}

function renderSelection() {
  const area = state.areas.find((a) => a.area_id === state.selected);
  if (!area) {
    $("trend-note").textContent = t("pick");
    $("drivers-note").textContent = "";
    for (const id of ["trend", "drivers", "changes"]) $(id).replaceChildren();
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
  let note = t("street_trend")(unitName(f.unit_id), area.name);
  const values = Object.fromEntries(((state.explain && state.explain.contributions) || [])
    .map((c) => [c.feature, c.value]));
  if ("all_now" in values) {
    note += (state.lang === "zh" ? "" : " ") + t("grid_counts")(area.name, plain(values.all_now),
      plain(values.all_prev), plain(values.all_mean_all));
  }
  $("trend-note").textContent = note;
  $("trend").replaceChildren(trendChart(f.points));
}

function trendChart(all) {
  const firstForecast = all.findIndex((p) => p.is_forecast);
  const start = Math.max(0, (firstForecast < 0 ? all.length : firstForecast) - HISTORY);
  const points = all.slice(start);
  const W = 640, H = 220, L = 44, R = 12, T = 12, B = 28;
  const top = Math.max(...points.map((p) => Math.max(p.high, p.observed ?? 0))) * 1.05;
  const bottom = Math.max(0, Math.min(...points.map((p) => Math.min(p.low, p.observed ?? Infinity))) * 0.9);
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
  if (cut > 0) chart.append(svg("line", { x1: x(cut - 0.5), x2: x(cut - 0.5), y1: T, y2: H - B, class: "now" }));
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
  const clear = () => { $("drivers").replaceChildren(); $("changes").replaceChildren(); };
  if (e === "none") { $("drivers-note").textContent = t("past_drivers"); clear(); return; }
  if (!e) { $("drivers-note").textContent = t("loading"); clear(); return; }
  $("drivers-note").textContent = t("drivers_note")(area.name,
    `${fmt(e.expected_count)} (${t("levels")[e.risk_level] || e.risk_level}, ${pct(e.risk_probability)})`);
  const top = e.contributions.slice().sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
    .slice(0, TOP_DRIVERS);
  const widest = Math.max(...top.map((d) => Math.abs(d.contribution)), 1e-9);
  const label = (d) => (state.lang === "zh" ? d.label_zh : d.label_en);
  $("drivers").replaceChildren(...top.map((d) => {
    const share = (50 * Math.abs(d.contribution)) / widest;
    const up = d.contribution > 0;
    const usual = d.typical === null || d.typical === undefined ? null : plain(d.typical);
    return el("div", { class: "driver", "data-feature": d.feature,
      title: `${d.feature}: TreeSHAP ${fmt(d.contribution, 3)} (log expected count)` },
    el("span", { class: "label" }, t("driver")(label(d), plain(d.value), usual, effectText(d.contribution))),
    el("span", { class: "bar-track" }, el("span", {
      class: `bar ${up ? "up" : "down"}`, style: `${up ? "left" : "right"}: 50%; width: ${share.toFixed(1)}%` })));
  }));
  const changes = (e.changes || []).slice(0, 3).map((c) => el("li", {},
    t("change")(label(c), plain(c.previous_value), plain(c.value), effectText(c.contribution))));
  $("changes").replaceChildren(
    ...(e.previous ? [el("li", { class: "muted" }, t("previous")(e.previous))] : []),
    ...(changes.length ? [el("li", { class: "muted" }, t("changes")), ...changes] : []));
}

function renderWarnings() {
  const shown = visibleWarnings();
  $("warnings").tBodies[0].replaceChildren(...shown.map(warningRow));
  $("warnings-note").textContent = !state.header || state.warnings.length ? ""
    : state.vintage ? t("no_past_warnings")(state.vintage.as_of) : t("no_warnings");
}

function warningRow(w) {
  const row = el("tr", { "data-warning-id": w.warning_id, "data-status": w.status });
  const buttons = ACTIONS.map((action) => el("button", {
    type: "button", "data-action": action, disabled: !(ALLOWED[w.status] || ACTIONS).includes(action),
    onclick: () => (action === "dismiss" ? askDismiss(w) : act(w, action)),
  }, t("actionNames")[action]));
  const unit = state.units[w.area_id];
  const level = unit ? unit.level : "grid";
  row.append(
    el("td", {}, el("span", { class: `chip level-${w.level}` }, t("levels")[w.level] || w.level)),
    el("td", {}, t("kinds")[w.kind] || w.kind, el("div", { class: "muted small" }, w.rule || "")),
    el("td", { class: "area", title: w.area_id }, unitName(w.area_id),
      el("div", { class: "muted small" }, t("level_names")[level] || level)),
    el("td", { class: "period" }, w.period, w.horizon ? el("div", { class: "muted small" }, `+${w.horizon}`) : null),
    el("td", { class: "response" }, state.lang === "zh" ? w.response_zh : w.response_en),
    el("td", { class: "status" }, t("statuses")[w.status] || w.status, state.history[w.warning_id]
      ? el("div", { class: "muted small" }, t("by")(state.history[w.warning_id])) : null),
    el("td", { class: "actions" }, buttons));
  return row;
}

// Dismissing asks for the reason code in a dialog, only when it is needed.
function askDismiss(warning) {
  const dialog = $("dismiss-dialog");
  $("dismiss-what").textContent = `${t("kinds")[warning.kind] || warning.kind} · ${unitName(warning.area_id)} · ${warning.period}`;
  options($("dismiss-reason"), DISMISS_REASONS.map((r) => [r, t("reasons")[r]]), DISMISS_REASONS[0]);
  $("dismiss-note").value = "";
  dialog.dataset.warning = warning.warning_id;
  dialog.showModal();
}

function confirmDismiss(event) {
  event.preventDefault();
  const dialog = $("dismiss-dialog");
  const warning = state.warnings.find((w) => w.warning_id === dialog.dataset.warning);
  dialog.close();
  if (warning) act(warning, "dismiss", $("dismiss-reason").value, $("dismiss-note").value.trim());
}

// --- wiring ----------------------------------------------------------------------------------

function refilter(change) {
  Object.assign(state.filters, change);
  state.page = 0;
  renderMap();
  renderRanking();
  renderWarnings();
}

function forget() {
  sessionStorage.removeItem(KEY_STORE);
  state.key = "";
  $("key").value = "";
  Object.assign(state, { areas: [], units: {}, scores: {}, safety: {}, warnings: [], alarms: [], periods: [], latest: null,
    asOf: null, vintage: null, selected: null, header: null, mapError: "" });
  renderAll();
}

function init() {
  $("key").value = state.key;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key").value.trim();
    sessionStorage.setItem(KEY_STORE, state.key);
    connect();
  });
  $("forget").addEventListener("click", forget);
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh" : "en";
    rememberLanguage(state.lang);
    renderAll();
  });
  $("as-of").addEventListener("change", (e) => changePeriod(e.target.value));
  $("search").addEventListener("input", (e) => refilter({ search: e.target.value }));
  $("filter-level").addEventListener("change", (e) => refilter({ level: e.target.value }));
  $("filter-kind").addEventListener("change", (e) => refilter({ kind: e.target.value }));
  $("filter-unit").addEventListener("change", (e) => refilter({ unit: e.target.value }));
  $("whole-map").addEventListener("click", () => { $("filter-unit").value = ""; refilter({ unit: "" }); });
  $("page-size").addEventListener("change", (e) => { state.pageSize = Number(e.target.value); state.page = 0; renderRanking(); });
  $("prev-page").addEventListener("click", () => { state.page -= 1; renderRanking(); });
  $("next-page").addEventListener("click", () => { state.page += 1; renderRanking(); });
  $("export-ranking").addEventListener("click", exportRanking);
  $("export-warnings").addEventListener("click", exportWarnings);
  $("refresh-warnings").addEventListener("click", () => { if (state.key) loadWarnings(); });
  $("error-close").addEventListener("click", clearError);
  $("dismiss-form").addEventListener("submit", confirmDismiss);
  $("dismiss-cancel").addEventListener("click", () => $("dismiss-dialog").close());
  wirePrinting();
  renderAll();
  if (state.key) connect();
}

init();
