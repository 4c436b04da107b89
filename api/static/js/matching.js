// Matching: the pairs or consortia with names, regions and score terms; a map drawn from the
// institutions' latitude and longitude (no tiles: an equirectangular projection fitted to
// the data); matched institutions per province.

import { colourMap, el, legend, num, reasonsBySubject, svg, tip } from "./dom.js";
import { pagedTable } from "./table.js";

const W = 760;
const H = 460;
const PAD = 36;

function convexHull(points) {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list) => {
    const out = [];
    for (const p of list) {
      while (out.length >= 2 && cross(out.at(-2), out.at(-1), p) <= 0) out.pop();
      out.push(p);
    }
    out.pop();
    return out;
  };
  return [...half(pts), ...half([...pts].reverse())];
}

/** Longitude is scaled by cos(mean latitude) so that distances look right mid-map. */
function projection(located) {
  const lats = located.map((i) => i.location.lat);
  const lons = located.map((i) => i.location.lon);
  const k = Math.cos(((Math.min(...lats) + Math.max(...lats)) / 2) * (Math.PI / 180));
  const x0 = Math.min(...lons) * k;
  const x1 = Math.max(...lons) * k;
  const y0 = Math.min(...lats);
  const y1 = Math.max(...lats);
  const scale = Math.min((W - 2 * PAD) / Math.max(x1 - x0, 1e-6), (H - 2 * PAD) / Math.max(y1 - y0, 1e-6));
  const ox = (W - (x1 - x0) * scale) / 2;
  const oy = (H - (y1 - y0) * scale) / 2;
  const project = (lat, lon) => [ox + (lon * k - x0) * scale, H - oy - (lat - y0) * scale];
  return { project, bounds: { lat: [y0, y1], lon: [x0 / k, x1 / k] }, scale: scale * k };
}

function graticule(project, bounds) {
  const lines = [];
  const step = Math.max(1, Math.ceil((bounds.lon[1] - bounds.lon[0]) / 8));
  const [la0, la1] = [Math.floor(bounds.lat[0] - 2), Math.ceil(bounds.lat[1] + 2)];
  const [lo0, lo1] = [Math.floor(bounds.lon[0] - 4), Math.ceil(bounds.lon[1] + 4)];
  for (let lon = Math.ceil(lo0 / step) * step; lon <= lo1; lon += step) {
    const [xa, ya] = project(la0, lon);
    const [xb, yb] = project(la1, lon);
    lines.push(svg("line", { x1: xa, y1: ya, x2: xb, y2: yb, class: "graticule" }));
    lines.push(svg("text", { x: xa + 2, y: H - 4, class: "graticule-text" }, `${lon}°E`));
  }
  for (let lat = Math.ceil(la0 / step) * step; lat <= la1; lat += step) {
    const [xa, ya] = project(lat, lo0);
    const [xb, yb] = project(lat, lo1);
    lines.push(svg("line", { x1: xa, y1: ya, x2: xb, y2: yb, class: "graticule" }));
    lines.push(svg("text", { x: 4, y: ya - 2, class: "graticule-text" }, `${lat}°N`));
  }
  return lines;
}

function drawMap(solution, instance) {
  const institutions = instance?.institutions || [];
  const byId = new Map(institutions.map((i) => [i.id, i]));
  const located = institutions.filter((i) => i.location);
  const figure = el("figure", { class: "map" });
  if (!located.length) {
    figure.append(el("p", { class: "empty" }, instance ? "No institution has a location: nothing to map." : "The instance of this job is not in this browser: no map."));
    return figure;
  }
  const { project, bounds } = projection(located);
  const at = (id) => {
    const i = byId.get(id);
    return i?.location ? project(i.location.lat, i.location.lon) : null;
  };
  const plan = solution.solution;
  const groups = plan.groups || null;
  const layers = { hulls: [], lines: [], points: [], labels: [] };
  let entries;
  let fillOf;
  if (groups) {
    const colours = colourMap(groups.map((g) => g.id));
    const groupOf = new Map(groups.flatMap((g) => g.members.map((m) => [m, g.id])));
    fillOf = (id) => (groupOf.has(id) ? colours.get(groupOf.get(id)) : "#ffffff");
    for (const g of groups) {
      const pts = g.members.map(at).filter(Boolean);
      const names = g.members.map((m) => byId.get(m)?.name || m).join(", ");
      const label = tip(`${g.id}: ${names} (score ${num(g.score)})`);
      if (pts.length >= 3) {
        const hull = convexHull(pts);
        layers.hulls.push(svg("polygon", { points: hull.map((p) => p.join(",")).join(" "), fill: colours.get(g.id), class: "group-hull", "data-group": g.id }, label));
      } else if (pts.length === 2) {
        layers.hulls.push(svg("line", { x1: pts[0][0], y1: pts[0][1], x2: pts[1][0], y2: pts[1][1], stroke: colours.get(g.id), class: "group-hull group-hull-line", "data-group": g.id }, label));
      }
    }
    entries = [...colours].map(([g, c]) => {
      const group = groups.find((x) => x.id === g);
      return [`${g} (${group.members.length})`, c];
    });
    entries.push(["not in a group", "#ffffff"]);
  } else {
    const zones = colourMap(institutions.map((i) => i.zone || "no zone"));
    const matched = new Set(plan.pairs.flatMap((p) => [p.a, p.b]));
    fillOf = (id) => (matched.has(id) ? zones.get(byId.get(id)?.zone || "no zone") : "#ffffff");
    const scores = plan.pairs.map((p) => p.score);
    const top = Math.max(...scores.map(Math.abs), 1e-9);
    for (const p of plan.pairs) {
      const a = at(p.a);
      const b = at(p.b);
      if (!a || !b) continue;
      layers.lines.push(
        svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: "pair-line", "stroke-width": 1 + 2.5 * Math.abs(p.score) / top, "data-pair": `${p.a}–${p.b}` },
          tip(`${byId.get(p.a)?.name || p.a} – ${byId.get(p.b)?.name || p.b}: score ${num(p.score)}`)),
      );
    }
    entries = [...zones].map(([z, c]) => [`${z} (matched)`, c]);
    entries.push(["unmatched", "#ffffff"]);
  }
  for (const i of located) {
    const [x, y] = project(i.location.lat, i.location.lon);
    layers.points.push(
      svg("circle", { cx: x, cy: y, r: 5, fill: fillOf(i.id), class: "inst-point", "data-id": i.id },
        tip(`${i.name || i.id} (${i.region || "no region"}${i.zone ? `, ${i.zone}` : ""})`)),
    );
    layers.labels.push(svg("text", { x: x + 7, y: y + 3, class: "inst-label" }, i.id));
  }
  const missing = institutions.length - located.length;
  figure.append(
    svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Map of ${located.length} institutions and their ${groups ? "consortia" : "pairs"}`, class: "map-svg" },
      svg("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }),
      graticule(project, bounds),
      svg("g", { class: "hulls" }, layers.hulls),
      svg("g", { class: "lines" }, layers.lines),
      svg("g", { class: "points" }, layers.points),
      svg("g", { class: "labels" }, layers.labels),
    ),
    el("figcaption", {},
      legend(groups ? entries : [...entries, ["pair (wider: higher score)", "#334155"]], "Map legend"),
      missing ? el("span", { class: "muted" }, `${missing} institution(s) without a location are not drawn.`) : null),
  );
  return figure;
}

function regionCounts(solution, instance) {
  let rows = [];
  const kpi = solution.kpis?.by_region;
  if (kpi && typeof kpi === "object") {
    rows = Object.entries(kpi).map(([region, v]) => ({ region, ...v }));
  } else if (instance) {
    const plan = solution.solution;
    const matched = new Set(plan.groups ? plan.groups.flatMap((g) => g.members) : plan.pairs.flatMap((p) => [p.a, p.b]));
    const by = new Map();
    for (const i of instance.institutions) {
      const r = i.region || "none";
      const row = by.get(r) || { region: r, institutions: 0, matched: 0 };
      row.institutions += 1;
      row.matched += matched.has(i.id) ? 1 : 0;
      by.set(r, row);
    }
    rows = [...by.values()].map((r) => ({ ...r, share_matched: r.matched / r.institutions }));
  }
  rows.sort((a, b) => b.matched - a.matched || a.region.localeCompare(b.region));
  return pagedTable({
    caption: "Matched institutions per province",
    rows,
    columns: [
      { label: "Province", value: (r) => r.region },
      { label: "Institutions", value: (r) => num(r.institutions), numeric: true },
      { label: "Matched", value: (r) => num(r.matched), numeric: true },
      { label: "Share matched", value: (r) => {
        const share = r.share_matched ?? r.matched / r.institutions;
        return el("span", { class: "bar-cell" }, el("span", { class: "bar", style: `width:${share * 60}px` }), `${Math.round(share * 100)}%`);
      } },
      { label: solution.solution.groups ? "Groups" : "Pairs", value: (r) => (r.pairs_or_groups === undefined ? "–" : num(r.pairs_or_groups)), numeric: true },
    ],
  });
}

export function render(container, solution, instance) {
  const plan = solution.solution;
  const byId = new Map((instance?.institutions || []).map((i) => [i.id, i]));
  const name = (id) => byId.get(id)?.name || id;
  const region = (id) => byId.get(id)?.region || "–";
  const reasons = reasonsBySubject(solution);
  let table;
  let left;
  if (plan.groups) {
    left = plan.ungrouped || [];
    table = pagedTable({
      caption: `Consortia (${plan.groups.length})`,
      rows: plan.groups,
      columns: [
        { label: "Group", value: (g) => g.id },
        { label: "Members", value: (g) => g.members.map(name).join(", ") },
        { label: "Regions", value: (g) => [...new Set(g.members.map(region))].join(", ") },
        { label: "Size", value: (g) => num(g.members.length), numeric: true },
        { label: "Score", value: (g) => num(g.score), numeric: true },
      ],
    });
  } else {
    left = plan.unmatched || [];
    const b = (p, k) => (p.breakdown ? num(p.breakdown[k]) : "–");
    table = pagedTable({
      caption: `Pairs (${plan.pairs.length})`,
      rows: plan.pairs,
      columns: [
        { label: "Institution A", value: (p) => name(p.a) },
        { label: "Region A", value: (p) => region(p.a) },
        { label: "Institution B", value: (p) => name(p.b) },
        { label: "Region B", value: (p) => region(p.b) },
        { label: "Score", value: (p) => num(p.score), numeric: true },
        { label: "Need", value: (p) => b(p, "need"), numeric: true },
        { label: "Complementarity", value: (p) => b(p, "complementarity"), numeric: true },
        { label: "Distance (1000 km)", value: (p) => b(p, "distance"), numeric: true },
        { label: "Bonus", value: (p) => b(p, "bonus"), numeric: true },
      ],
    });
  }
  const leftTable = pagedTable({
    caption: plan.groups ? `Not in a group (${left.length})` : `Unmatched (${left.length})`,
    rows: left,
    columns: [
      { label: "Institution", value: (id) => name(id) },
      { label: "Region", value: (id) => region(id) },
      { label: "Reason", value: (id) => (reasons.get(id) || []).map((e) => e.code).join(", ") || "–" },
      { label: "Detail", value: (id) => (reasons.get(id) || []).map((e) => e.detail).join(" ") || "–" },
    ],
  });
  container.append(
    el("div", { class: "split map-split" }, drawMap(solution, instance), el("div", {}, regionCounts(solution, instance))),
    table,
    leftTable,
  );
}
