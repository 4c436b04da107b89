// A job's live progress from its event stream: figures and a small objective/bound chart.

import { el, num, percent, svg, tip } from "./dom.js";

const W = 640;
const H = 200;
const M = { left: 64, right: 56, top: 28, bottom: 30 };

export class Progress {
  constructor() {
    this.points = []; // {t, objective, bound, gap}
    this.box = document.getElementById("progress");
    this.chart = document.getElementById("progress-chart");
    this.figures = document.getElementById("progress-figures");
  }

  reset() {
    this.points = [];
    this.latest = {};
    this.box.hidden = false;
    this.render({});
  }

  add(data) {
    this.latest = { ...this.latest, ...data };
    if (data.objective !== null && data.objective !== undefined) {
      this.points.push({ t: data.elapsed_s ?? 0, objective: data.objective, bound: data.bound, gap: data.gap });
    }
    this.render(this.latest);
  }

  render(latest) {
    const last = this.points.at(-1) || {};
    this.figures.replaceChildren(
      ...[
        ["Solutions found", num(latest.solutions ?? this.points.length)],
        ["Objective", num(last.objective)],
        ["Bound", num(last.bound)],
        ["Gap", percent(last.gap)],
        ["Phase", latest.phase || "–"],
      ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-figure": k }, v)]),
    );
    this.draw();
  }

  draw() {
    const pts = this.points;
    const { left, right, top, bottom } = M;
    const iw = W - left - right;
    const ih = H - top - bottom;
    const nodes = [svg("rect", { x: left, y: top, width: iw, height: ih, class: "plot-bg" })];
    if (!pts.length) {
      nodes.push(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "muted-text" }, "Waiting for the first solution…"));
      this.chart.replaceChildren(...nodes);
      return;
    }
    const values = pts.flatMap((p) => [p.objective, p.bound]).filter((v) => v !== null && v !== undefined);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    if (hi - lo < 1e-9) {
      lo -= Math.max(1, Math.abs(lo) * 0.05);
      hi += Math.max(1, Math.abs(hi) * 0.05);
    }
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    const tmax = Math.max(1, ...pts.map((p) => p.t)) * 1.05;
    const x = (t) => left + (t / tmax) * iw;
    const y = (v) => top + ih - ((v - lo) / (hi - lo)) * ih;
    for (let k = 0; k <= 4; k++) {
      const v = lo + ((hi - lo) * k) / 4;
      nodes.push(
        svg("line", { x1: left, x2: left + iw, y1: y(v), y2: y(v), class: "grid" }),
        svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis-text" }, num(v, 2)),
      );
    }
    for (let k = 0; k <= 5; k++) {
      const t = (tmax * k) / 5;
      nodes.push(svg("text", { x: x(t), y: H - 10, "text-anchor": "middle", class: "axis-text" }, `${t.toFixed(t < 10 ? 1 : 0)} s`));
    }
    // Steps: a value holds until the next event improves it.
    const step = (key) => {
      const seq = pts.filter((p) => p[key] !== null && p[key] !== undefined);
      if (!seq.length) return "";
      let d = `M${x(seq[0].t)},${y(seq[0][key])}`;
      for (let i = 1; i < seq.length; i++) d += `H${x(seq[i].t)}V${y(seq[i][key])}`;
      return d + `H${x(tmax / 1.05)}`;
    };
    // The gap on its own scale (right axis): it shrinks as the objective and bound meet.
    const gaps = pts.filter((p) => p.gap !== null && p.gap !== undefined);
    if (gaps.length) {
      const gmax = Math.max(...gaps.map((p) => p.gap), 1e-9) * 1.1;
      const yg = (g) => top + ih - (g / gmax) * ih;
      for (let k = 0; k <= 2; k++) {
        const g = (gmax * k) / 2;
        nodes.push(svg("text", { x: left + iw + 6, y: yg(g) + 4, class: "axis-text gap-text" }, percent(g)));
      }
      let d = `M${x(gaps[0].t)},${yg(gaps[0].gap)}`;
      for (let i = 1; i < gaps.length; i++) d += `H${x(gaps[i].t)}V${yg(gaps[i].gap)}`;
      nodes.push(svg("path", { d: d + `H${x(tmax / 1.05)}`, class: "line-gap" }, tip("Gap")));
    }
    nodes.push(svg("path", { d: step("bound"), class: "line-bound" }, tip("Bound")));
    nodes.push(svg("path", { d: step("objective"), class: "line-objective" }, tip("Objective")));
    for (const p of pts) {
      nodes.push(
        svg("circle", { cx: x(p.t), cy: y(p.objective), r: 3.5, class: "dot-objective" },
          tip(`${p.t.toFixed(2)} s: objective ${num(p.objective)}, bound ${num(p.bound)}, gap ${percent(p.gap)}`)),
      );
    }
    nodes.push(
      svg("g", { class: "chart-legend", transform: `translate(${left},14)` },
        svg("line", { x1: 0, x2: 18, y1: -4, y2: -4, class: "line-objective" }),
        svg("text", { x: 22, y: 0, class: "axis-text" }, "objective"),
        svg("line", { x1: 90, x2: 108, y1: -4, y2: -4, class: "line-bound" }),
        svg("text", { x: 112, y: 0, class: "axis-text" }, "bound"),
        svg("line", { x1: 170, x2: 188, y1: -4, y2: -4, class: "line-gap" }),
        svg("text", { x: 192, y: 0, class: "axis-text" }, "gap (right axis)"),
      ),
    );
    this.chart.replaceChildren(...nodes);
  }
}
