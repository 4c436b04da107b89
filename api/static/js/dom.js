// Small helpers shared by the views: elements, SVG, colours and number formats.

const SVG_NS = "http://www.w3.org/2000/svg";

/** An HTML element: el("td", {class: "num"}, "1.5"); children may be strings or nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

/** An SVG <title>: the tooltip a browser shows on hover, read by screen readers too. */
export function tip(text) {
  return svg("title", {}, text);
}

// Colour-blind-friendly qualitative palette (Okabe–Ito, its yellow darkened so that white
// labels stay readable on it, then Tableau's extras).
const PALETTE = [
  "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#8c6d31", "#999999",
  "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#ff9da7", "#9c755f", "#edc948",
];

export function colour(index) {
  if (index < PALETTE.length) return PALETTE[index];
  return `hsl(${(index * 137.508) % 360} 55% 50%)`;
}

/** A stable colour per key, in order of first use. */
export function colourMap(keys) {
  const map = new Map();
  for (const key of keys) if (!map.has(key)) map.set(key, colour(map.size));
  return map;
}

export function num(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Number(value.toFixed(digits)).toLocaleString("en", { maximumFractionDigits: digits });
}

export function percent(value) {
  if (value === null || value === undefined) return "–";
  return `${(value * 100).toFixed(value < 0.01 && value > 0 ? 3 : 2)}%`;
}

/** A small legend: coloured swatches with labels. */
export function legend(entries, label) {
  return el(
    "ul",
    { class: "legend", "aria-label": label },
    entries.map(([text, fill]) =>
      el("li", {}, el("span", { class: "swatch", style: `background:${fill}` }), text),
    ),
  );
}

/** Reasons by subject id, from a solution's explanations. */
export function reasonsBySubject(solution) {
  const reasons = new Map();
  for (const e of solution.explanations || []) {
    if (!reasons.has(e.subject)) reasons.set(e.subject, []);
    reasons.get(e.subject).push(e);
  }
  return reasons;
}
