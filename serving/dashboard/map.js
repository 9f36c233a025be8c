// riskgrid dashboard: the map of the grids, coloured by risk, with the boundaries of the units
// one level up, labels on hover, and zoom to a unit.
"use strict";

const LABELS_UP_TO = 60; // grids drawn with their name on the map; beyond, names show on hover

function rings(geometry) {
  if (!geometry) return null;
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return null;
}

// The level whose boundaries are drawn over the grids: the nearest one above them.
function boundaryLevel(areas) {
  for (const level of ["community", "street", "district"]) {
    if (areas.some((a) => a.parents && a.parents[level])) return level;
  }
  return null;
}

// Grids without shapes: tiles, one block per unit of the level above, in id order.
function tileLayout(areas, level) {
  const groups = new Map();
  for (const [i, area] of areas.entries()) {
    const unit = (level && area.parents[level]) || "";
    if (!groups.has(unit)) groups.set(unit, []);
    groups.get(unit).push(i);
  }
  const size = 100, gap = 8, pad = 22;
  const blockCols = Math.ceil(Math.sqrt(groups.size));
  const shape = (n) => [Math.ceil(Math.sqrt(n)), Math.ceil(n / Math.ceil(Math.sqrt(n)))];
  const sides = [...groups.values()].map((g) => shape(g.length));
  const blockW = gap + Math.max(...sides.map((s) => s[0])) * (size + gap);
  const blockH = pad + Math.max(...sides.map((s) => s[1])) * (size + gap);
  const items = new Array(areas.length), blocks = [];
  [...groups.entries()].forEach(([unit, members], b) => {
    const bx = gap + (b % blockCols) * (blockW + gap), by = gap + Math.floor(b / blockCols) * (blockH + gap);
    const cols = shape(members.length)[0];
    members.forEach((index, k) => {
      const x = bx + gap + (k % cols) * (size + gap), y = by + pad + Math.floor(k / cols) * (size + gap);
      items[index] = { d: `M${x},${y}h${size}v${size}h${-size}Z`, box: [x, y, x + size, y + size] };
    });
    if (unit) blocks.push({ unit, d: `M${bx},${by}h${blockW}v${blockH}h${-blockW}Z`,
      label: [bx + 6, by + 15], box: [bx, by, bx + blockW, by + blockH] });
  });
  const rows = Math.ceil(groups.size / blockCols);
  return { items, blocks, width: gap + blockCols * (blockW + gap), height: gap + rows * (blockH + gap) };
}

// Projected coordinates (metres or feet): fit the bounding box, and flip y so north is up.
function shapeLayout(shapes, boundaries) {
  const points = shapes.flat(2);
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY) || 1;
  const scale = 1000 / span, pad = 10;
  const X = (x) => pad + (x - minX) * scale, Y = (y) => pad + (maxY - y) * scale;
  const path = (polygon) => polygon.map((ring) => "M" + ring.map(([x, y]) =>
    `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join("L") + "Z").join("");
  const box = (polygon) => {
    const own = polygon.flat();
    const ox = own.map((p) => p[0]), oy = own.map((p) => p[1]);
    return [X(Math.min(...ox)), Y(Math.max(...oy)), X(Math.max(...ox)), Y(Math.min(...oy))];
  };
  const items = shapes.map((polygon) => ({ d: path(polygon), box: box(polygon) }));
  const blocks = boundaries.map(({ unit, polygon }) => {
    const b = box(polygon);
    return { unit, d: path(polygon), label: [(b[0] + b[2]) / 2, b[1] + 14], box: b };
  });
  return { items, blocks, width: 2 * pad + (maxX - minX) * scale, height: 2 * pad + (maxY - minY) * scale };
}

function layout(areas, units) {
  const level = boundaryLevel(areas);
  const shapes = areas.map((a) => rings(a.geometry));
  const tiles = shapes.some((r) => r === null);
  if (tiles) return { tiles, level, ...tileLayout(areas, level) };
  const ids = [...new Set(areas.map((a) => a.parents[level]).filter(Boolean))];
  const boundaries = ids.map((unit) => ({ unit, polygon: rings(units[unit] && units[unit].geometry) }))
    .filter((b) => b.polygon);
  return { tiles, level, ...shapeLayout(shapes, boundaries) };
}

// The view box showing the grids under ``unit`` (all of them when none).
function viewOf(drawn, areas, unit) {
  const inside = areas.map((a, i) => [a, i]).filter(([a]) => !unit || a.area_id === unit ||
    Object.values(a.parents || {}).includes(unit));
  if (!unit || !inside.length) return [0, 0, drawn.width, drawn.height];
  const boxes = inside.map(([, i]) => drawn.items[i].box);
  const x0 = Math.min(...boxes.map((b) => b[0])), y0 = Math.min(...boxes.map((b) => b[1]));
  const x1 = Math.max(...boxes.map((b) => b[2])), y1 = Math.max(...boxes.map((b) => b[3]));
  const margin = 0.08 * Math.max(x1 - x0, y1 - y0, 1);
  return [x0 - margin, y0 - margin - 16, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin + 16];
}

function renderMap() {
  const map = $("map");
  map.replaceChildren();
  hideTip();
  if (!state.areas.length) { $("map-note").textContent = state.mapError; return; }
  const drawn = layout(state.areas, state.units);
  state.tiles = drawn.tiles;
  const levelName = drawn.level ? t("level_names")[drawn.level] : null;
  $("map-note").textContent = (drawn.tiles ? t("tiles") : t("shapes")) +
    (drawn.blocks.length ? " " + t("bounds")(levelName) : "");
  const view = viewOf(drawn, state.areas, state.filters.unit);
  map.setAttribute("viewBox", view.map((v) => v.toFixed(1)).join(" "));
  const shown = new Set(visibleGrids().map((a) => a.area_id));
  const zoomed = state.areas.filter((a) => !state.filters.unit || a.area_id === state.filters.unit ||
    Object.values(a.parents).includes(state.filters.unit));
  const labelled = zoomed.length <= LABELS_UP_TO;
  state.areas.forEach((area, i) => {
    const { d, box } = drawn.items[i];
    const s = state.scores[area.area_id];
    const group = svg("g", { class: "area" + (shown.has(area.area_id) ? "" : " dim"),
      "data-area": area.area_id, tabindex: 0, onclick: () => select(area.area_id) },
    svg("path", { d, class: `level-${levelOf(area.area_id)}` +
      (area.area_id === state.selected ? " selected" : ""), "fill-rule": "evenodd" }));
    if (labelled && zoomed.includes(area)) {
      group.append(svg("text", { x: (box[0] + box[2]) / 2, y: (box[1] + box[3]) / 2, "text-anchor": "middle",
        "dominant-baseline": "middle" }, s ? `${area.name} · ${pct(s.risk_probability)}` : area.name));
    }
    group.addEventListener("mouseenter", (e) => showTip(area, e));
    group.addEventListener("mousemove", (e) => moveTip(e));
    group.addEventListener("mouseleave", hideTip);
    group.addEventListener("focus", () => showTip(area, null));
    group.addEventListener("blur", hideTip);
    group.addEventListener("keydown", (e) => { if (e.key === "Enter") select(area.area_id); });
    map.append(group);
  });
  for (const block of drawn.blocks) {
    map.append(svg("g", { class: "boundary", "data-unit": block.unit },
      svg("path", { d: block.d }),
      svg("text", { x: block.label[0], y: block.label[1],
        "text-anchor": drawn.tiles ? "start" : "middle" }, unitName(block.unit))));
  }
}

function tipText(area) {
  const s = state.scores[area.area_id];
  const lines = [`${area.name} (${area.area_id})`];
  const above = ["community", "street", "district"].map((lv) => area.parents[lv]).filter(Boolean)
    .map(unitName).join(" · ");
  if (above) lines.push(above);
  if (s) {
    lines.push(`${t("levels")[s.risk_level] || s.risk_level} · ${pct(s.risk_probability)} · ` +
      `${t("expected")} ${fmt(s.expected_count)} (${fmt(s.interval[0])}–${fmt(s.interval[1])})`);
    lines.push(`${t("rank")} ${s.rank}`);
  }
  return lines;
}

function showTip(area, event) {
  const tip = $("map-tip");
  tip.replaceChildren(...tipText(area).map((line, i) => el("div", { class: i ? "" : "strong" }, line)));
  tip.hidden = false;
  tip.dataset.area = area.area_id;
  if (event) moveTip(event);
  else {
    const box = document.querySelector(`#map [data-area="${CSS.escape(area.area_id)}"]`).getBoundingClientRect();
    placeTip(box.left + box.width / 2, box.top + box.height / 2);
  }
}

function moveTip(event) { placeTip(event.clientX, event.clientY); }

function placeTip(x, y) {
  const tip = $("map-tip"), panel = $("map-panel").getBoundingClientRect();
  const left = Math.min(x - panel.left + 14, panel.width - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(4, left)}px`;
  tip.style.top = `${y - panel.top + 14}px`;
}

function hideTip() {
  const tip = $("map-tip");
  if (tip) { tip.hidden = true; delete tip.dataset.area; }
}
