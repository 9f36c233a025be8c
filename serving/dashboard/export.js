// riskgrid dashboard: the ranked list and the warnings as CSV files, and printing.
"use strict";

// One CSV field: quoted when it holds a comma, quote or line break; a leading = + - @ is
// prefixed with ' so a spreadsheet shows it as text instead of running it as a formula.
function csvField(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@]/.test(text) && !/^-?\d/.test(text)) text = "'" + text;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csv(header, rows) {
  // The byte-order mark lets spreadsheet programs read the Chinese names as UTF-8.
  return "\ufeff" + [header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function periodShown() {
  return state.asOf || (state.header && state.header.as_of) || "";
}

function rankingCsv() {
  const header = ["rank", "area_id", "name", "community", "street", "district", "risk_level",
    "risk_probability", "expected_count", "low", "high", "as_of", "source", "model_version",
    "safety_index"];
  const source = state.vintage ? state.vintage.source : "api";
  const version = state.vintage ? state.vintage.model_version : (state.header || {}).model_version;
  const rows = rankedGrids().map((area) => {
    const s = state.scores[area.area_id];
    return [s.rank, area.area_id, area.name, area.parents.community, area.parents.street,
      area.parents.district, s.risk_level, s.risk_probability, s.expected_count, s.interval[0],
      s.interval[1], periodShown(), source, version, (state.safety[area.area_id] || {}).value];
  });
  return csv(header, rows);
}

function warningsCsv() {
  const header = ["warning_id", "level", "kind", "rule", "area_id", "area_name", "period",
    "horizon", "status", "response", "issued_at"];
  const rows = visibleWarnings().map((w) => [w.warning_id, w.level, w.kind, w.rule, w.area_id,
    unitName(w.area_id), w.period, w.horizon, w.status,
    state.lang === "zh" ? w.response_zh : w.response_en, w.issued_at]);
  return csv(header, rows);
}

function exportRanking() {
  download(`riskgrid-grids-${periodShown()}.csv`, rankingCsv());
}

function exportWarnings() {
  download(`riskgrid-warnings-${periodShown()}.csv`, warningsCsv());
}

// Printing shows every row of the list, not only the current page.
function wirePrinting() {
  window.addEventListener("beforeprint", () => { state.printing = true; renderRanking(); });
  window.addEventListener("afterprint", () => { state.printing = false; renderRanking(); });
  $("print").addEventListener("click", () => window.print());
}
