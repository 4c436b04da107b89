// Instruments: a Gantt chart with one row per instrument over a visible window (a day, a
// week or the whole horizon, scrolled by buttons or a slider). Only what intersects the
// window is drawn, so a 1,000-request week stays light. Bookings are coloured by institution
// with the operator in the label and tooltip; maintenance and unavailable time are shaded.

import { colourMap, el, legend, num, reasonsBySubject, svg, tip } from "./dom.js";
import { pagedTable } from "./table.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const W = 1120;
const LABEL = 190;
const ROW = 30;
const AXIS = 34;

const ZOOMS = { day: DAY, week: 7 * DAY, all: null };

/** The UTC offset of an ISO datetime, in minutes ("+08:00" -> 480). */
function offsetOf(iso) {
  const m = /([+-])(\d\d):?(\d\d)$/.exec(iso || "");
  if (!m) return 0;
  return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

function formatter(offsetMinutes) {
  const shift = (ms) => new Date(ms + offsetMinutes * MIN);
  const pad = (n) => String(n).padStart(2, "0");
  return {
    time: (ms) => {
      const d = shift(ms);
      return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    },
    day: (ms) => {
      const d = shift(ms);
      return `${DAYS[d.getUTCDay()]} ${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    },
    full: (ms) => {
      const d = shift(ms);
      return `${DAYS[d.getUTCDay()]} ${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    },
    // Midnight in the horizon's own time zone, at or before ms.
    midnight: (ms) => {
      const local = ms + offsetMinutes * MIN;
      return local - (((local % DAY) + DAY) % DAY) - offsetMinutes * MIN;
    },
  };
}

function intervals(list) {
  return (list || []).map((w) => [Date.parse(w.start), Date.parse(w.end)]).sort((a, b) => a[0] - b[0]);
}

/** The gaps of ``windows`` inside [h0, h1): when an instrument cannot be booked. */
function complement(windows, h0, h1) {
  const gaps = [];
  let t = h0;
  for (const [s, e] of windows) {
    if (s > t) gaps.push([t, Math.min(s, h1)]);
    t = Math.max(t, e);
  }
  if (t < h1) gaps.push([t, h1]);
  return gaps.filter(([s, e]) => e > s);
}

function model(solution, instance) {
  const bookings = solution.solution.bookings.map((b) => ({ ...b, s: Date.parse(b.start), e: Date.parse(b.end) }));
  const requests = new Map((instance?.requests || []).map((r) => [r.id, r]));
  const operators = new Map((instance?.operators || []).map((o) => [o.id, o]));
  let h0;
  let h1;
  if (instance?.horizon) {
    h0 = Date.parse(instance.horizon.start);
    h1 = Date.parse(instance.horizon.end);
  } else {
    h0 = Math.min(...bookings.map((b) => b.s));
    h1 = Math.max(...bookings.map((b) => b.e));
  }
  const offset = offsetOf(instance?.horizon?.start || solution.solution.bookings[0]?.start);
  const instrumentList = instance?.instruments?.length
    ? instance.instruments
    : [...new Set(bookings.map((b) => b.instrument))].sort().map((id) => ({ id }));
  const rows = instrumentList.map((i) => ({
    id: i.id,
    label: i.name || i.id,
    type: i.type,
    site: i.site,
    maintenance: intervals(i.maintenance),
    unavailable: i.availability ? complement(intervals(i.availability), h0, h1) : [],
    bookings: [],
  }));
  const rowOf = new Map(rows.map((r) => [r.id, r]));
  for (const b of bookings) {
    b.institution = requests.get(b.request)?.institution || "?";
    b.stepName = requests.get(b.request)?.steps?.[b.step]?.name || `step ${b.step}`;
    b.operatorName = b.operator ? operators.get(b.operator)?.name || b.operator : null;
    if (!rowOf.has(b.instrument)) {
      const r = { id: b.instrument, label: b.instrument, maintenance: [], unavailable: [], bookings: [] };
      rows.push(r);
      rowOf.set(r.id, r);
    }
    rowOf.get(b.instrument).bookings.push(b);
  }
  for (const r of rows) r.bookings.sort((a, b) => a.s - b.s);
  return { bookings, rows, h0, h1, requests, fmt: formatter(offset) };
}

/** Bookings of a row that intersect [t0, t1): binary search on starts, then a short scan. */
function visible(list, t0, t1, maxLength) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].s < t0 - maxLength) lo = mid + 1;
    else hi = mid;
  }
  const out = [];
  for (let k = lo; k < list.length && list[k].s < t1; k++) if (list[k].e > t0) out.push(list[k]);
  return out;
}

function ticks(t0, t1, fmt) {
  const span = t1 - t0;
  const step = span <= 1.5 * DAY ? 2 * HOUR : span <= 8 * DAY ? 6 * HOUR : DAY;
  const out = [];
  for (let t = fmt.midnight(t0); t <= t1; t += step) if (t >= t0) out.push(t);
  return out;
}

function drawGantt(m, colours, t0, t1) {
  const iw = W - LABEL - 10;
  const x = (t) => LABEL + ((Math.max(t0, Math.min(t1, t)) - t0) / (t1 - t0)) * iw;
  const height = AXIS + m.rows.length * ROW + 6;
  const maxLength = Math.max(0, ...m.bookings.map((b) => b.e - b.s));
  const nodes = [];
  // The window's first day is named at its left edge; later days at their midnight.
  nodes.push(svg("text", { x: LABEL + 3, y: 13, class: "axis-text axis-day" }, m.fmt.day(t0)));
  for (const t of ticks(t0, t1, m.fmt)) {
    const midnight = m.fmt.midnight(t) === t;
    nodes.push(svg("line", { x1: x(t), x2: x(t), y1: midnight ? 2 : AXIS - 4, y2: height, class: midnight ? "tick-day" : "tick" }));
    if (x(t) > W - 36) continue; // no room for a label at the right edge
    if (midnight && x(t) > LABEL + 70) nodes.push(svg("text", { x: x(t) + 3, y: 13, class: "axis-text axis-day" }, m.fmt.day(t)));
    nodes.push(svg("text", { x: x(t) + 3, y: 28, class: "axis-text" }, m.fmt.time(t)));
  }
  let drawn = 0;
  m.rows.forEach((r, k) => {
    const y = AXIS + k * ROW;
    const g = svg("g", { class: "gantt-row", "data-instrument": r.id });
    g.append(
      svg("rect", { x: 0, y, width: W, height: ROW, class: k % 2 ? "row-odd" : "row-even" }),
      svg("text", { x: 6, y: y + ROW / 2 + 4, class: "row-label" }, r.label.length > 26 ? `${r.label.slice(0, 25)}…` : r.label, tip(`${r.label} (${r.id}${r.type ? `, ${r.type}` : ""}${r.site ? ` at ${r.site}` : ""})`)),
    );
    for (const [s, e] of r.unavailable) {
      if (e <= t0 || s >= t1) continue;
      g.append(svg("rect", { x: x(s), y: y + 2, width: Math.max(0.5, x(e) - x(s)), height: ROW - 4, class: "unavailable" }, tip(`unavailable ${m.fmt.full(s)} – ${m.fmt.full(e)}`)));
    }
    for (const [s, e] of r.maintenance) {
      if (e <= t0 || s >= t1) continue;
      g.append(svg("rect", { x: x(s), y: y + 2, width: Math.max(0.5, x(e) - x(s)), height: ROW - 4, class: "maintenance" }, tip(`maintenance ${m.fmt.full(s)} – ${m.fmt.full(e)}`)));
    }
    for (const b of visible(r.bookings, t0, t1, maxLength)) {
      const bx = x(b.s);
      const bw = Math.max(1.5, x(b.e) - bx);
      const text = `${b.request}${b.operator ? ` · ${b.operatorName}` : ""}`;
      g.append(
        svg("g", { class: "booking", "data-request": b.request, "data-step": b.step },
          svg("rect", { x: bx, y: y + 5, width: bw, height: ROW - 10, rx: 3, fill: colours.get(b.institution) }),
          bw > text.length * 6.2 ? svg("text", { x: bx + 4, y: y + ROW / 2 + 4, class: "booking-text" }, text) : null,
          tip(`${b.request} (${b.institution}), ${b.stepName} on ${b.instrument}\n${m.fmt.full(b.s)} – ${m.fmt.full(b.e)}${b.operator ? `\noperator: ${b.operatorName}` : ""}`),
        ),
      );
      drawn += 1;
    }
    nodes.push(g);
  });
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${height}`, role: "img", class: "gantt-svg",
    "aria-label": `Gantt chart of ${m.rows.length} instruments, ${m.fmt.full(t0)} to ${m.fmt.full(t1)}: ${drawn} bookings shown`,
    "data-drawn": drawn,
  }, nodes);
  return chart;
}

export function render(container, solution, instance) {
  if (!solution.solution.bookings.length && !instance?.horizon) {
    container.append(el("p", { class: "empty" }, "No bookings, and the instance of this job is not in this browser: no chart."));
    return;
  }
  const m = model(solution, instance);
  const colours = colourMap(m.bookings.map((b) => b.institution).sort());
  const span = m.h1 - m.h0;
  // Busy plans open on one day, long horizons on a week; a short, light plan is shown whole.
  let zoom = m.bookings.length > 300 ? "day" : span > 8 * DAY ? "week" : "all";
  let start = m.h0;
  const holder = el("div", { class: "gantt-holder" });
  const slider = el("input", { type: "range", min: 0, max: 1000, value: 0, "aria-label": "Scroll the chart in time", class: "gantt-slider" });
  const where = el("span", { class: "muted", "aria-live": "polite" });
  const zoomSelect = el("select", { "aria-label": "Zoom" },
    el("option", { value: "day" }, "One day"), el("option", { value: "week" }, "One week"), el("option", { value: "all" }, "Whole horizon"));
  const length = () => Math.min(span, ZOOMS[zoom] ?? span);

  function redraw() {
    const len = length();
    start = Math.max(m.h0, Math.min(m.h1 - len, start));
    const chart = drawGantt(m, colours, start, start + len);
    holder.replaceChildren(chart);
    slider.disabled = len >= span;
    slider.value = span > len ? Math.round(((start - m.h0) / (span - len)) * 1000) : 0;
    where.textContent = `${m.fmt.full(start)} – ${m.fmt.full(start + len)}: ${chart.dataset.drawn} of ${m.bookings.length} bookings in view`;
  }
  const shift = (direction) => {
    start += direction * (zoom === "day" ? DAY : Math.max(DAY, length() / 2));
    redraw();
  };
  zoomSelect.value = zoom;
  zoomSelect.addEventListener("change", () => {
    zoom = zoomSelect.value;
    redraw();
  });
  slider.addEventListener("input", () => {
    start = m.h0 + (Number(slider.value) / 1000) * (span - length());
    start = zoom === "day" ? m.fmt.midnight(start) + (m.h0 - m.fmt.midnight(m.h0)) : start;
    redraw();
  });
  const unscheduled = solution.solution.unscheduled || [];
  const reasons = reasonsBySubject(solution);
  container.append(
    el("div", { class: "row gantt-controls" },
      el("label", {}, "Zoom ", zoomSelect),
      el("button", { type: "button", onclick: () => shift(-1) }, "‹ Earlier"),
      el("button", { type: "button", onclick: () => shift(1) }, "Later ›"),
      slider, where),
    el("figure", { class: "gantt" }, holder,
      el("figcaption", {},
        legend([...colours].map(([inst, c]) => [inst, c]), "Institutions"),
        el("ul", { class: "legend", "aria-label": "Shading" },
          el("li", {}, el("span", { class: "swatch maintenance-swatch" }), "maintenance"),
          el("li", {}, el("span", { class: "swatch unavailable-swatch" }), "unavailable")))),
    pagedTable({
      caption: `Unscheduled requests (${unscheduled.length})`,
      rows: unscheduled,
      columns: [
        { label: "Request", value: (id) => id },
        { label: "Institution", value: (id) => m.requests.get(id)?.institution || "–" },
        { label: "Weight", value: (id) => num(m.requests.get(id)?.weight ?? null), numeric: true },
        { label: "Reason", value: (id) => (reasons.get(id) || []).map((e) => e.code).join(", ") || "–" },
        { label: "Detail", value: (id) => (reasons.get(id) || []).map((e) => e.detail).join(" ") || "–" },
      ],
    }),
    pagedTable({
      caption: `Bookings (${m.bookings.length})`,
      rows: [...m.bookings].sort((a, b) => a.s - b.s || a.instrument.localeCompare(b.instrument)),
      columns: [
        { label: "Start", value: (b) => m.fmt.full(b.s), nowrap: true },
        { label: "End", value: (b) => m.fmt.full(b.e), nowrap: true },
        { label: "Instrument", value: (b) => b.instrument },
        { label: "Request", value: (b) => b.request },
        { label: "Institution", value: (b) => b.institution },
        { label: "Step", value: (b) => b.stepName },
        { label: "Operator", value: (b) => b.operatorName || "–" },
      ],
    }),
  );
  redraw();
}
