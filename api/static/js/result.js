// The plan: headline figures, downloads and the kind's view.

import { el, num, percent } from "./dom.js";
import { pagedTable } from "./table.js";

const VIEWS = {
  matching: () => import("./matching.js"),
  instruments: () => import("./instruments.js"),
  loans: () => import("./loans.js"),
};

function figures(solution) {
  const run = solution.run || {};
  const rows = [
    ["Status", solution.status],
    ["Objective", num(solution.objective)],
    ["Bound", num(solution.bound)],
    ["Gap", percent(solution.gap)],
    ["Solver", run.solver || "–"],
    ["Solve time", run.runtime_s !== undefined ? `${num(run.runtime_s, 2)} s` : "–"],
    ["Verified", solution.verification?.checked ? (solution.verification.valid ? "yes" : "NO") : "–"],
  ];
  document.getElementById("result-figures").replaceChildren(
    ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-figure": k }, v)]),
  );
}

function icsScopes(solution, instance) {
  const controls = document.getElementById("ics-controls");
  const scope = document.getElementById("ics-scope");
  controls.hidden = solution.kind !== "instruments" || !solution.solution;
  if (controls.hidden) return;
  const bookings = solution.solution.bookings || [];
  const instruments = [...new Set(bookings.map((b) => b.instrument))].sort();
  const byRequest = new Map((instance?.requests || []).map((r) => [r.id, r.institution]));
  const institutions = [...new Set(bookings.map((b) => byRequest.get(b.request)).filter(Boolean))].sort();
  scope.replaceChildren(
    el("option", { value: "" }, "every booking"),
    el("optgroup", { label: "One instrument" }, instruments.map((i) => el("option", { value: `instrument=${i}` }, i))),
    institutions.length
      ? el("optgroup", { label: "One institution" }, institutions.map((i) => el("option", { value: `institution=${i}` }, i)))
      : null,
  );
}

/** Draws a solution; resolves with the milliseconds from start to the view's first paint. */
export async function show(solution, instance) {
  const section = document.getElementById("result");
  const view = document.getElementById("view");
  const started = performance.now();
  section.hidden = false;
  figures(solution);
  icsScopes(solution, instance);
  document.getElementById("download-csv").disabled = !solution.solution;
  document.getElementById("download-xlsx").disabled = !solution.solution;
  document.getElementById("download-note").textContent = "";
  view.replaceChildren();
  delete view.dataset.firstPaintMs;
  view.dataset.kind = solution.kind || "";
  const explanations = document.getElementById("explanations");
  explanations.replaceChildren();
  if (solution.solution && VIEWS[solution.kind]) {
    const module = await VIEWS[solution.kind]();
    module.render(view, solution, instance);
  } else if (solution.solution) {
    // A kind this page has no view of (one named in UNISHARE_EXTRA_KINDS): its plan as text.
    const text = JSON.stringify(solution.solution, null, 2);
    view.append(
      el("p", {}, `This page has no drawing of ${solution.kind} plans; the plan as it is:`),
      el("pre", { class: "plan-text" }, text.length > 20_000 ? `${text.slice(0, 20_000)}\n…` : text),
    );
  } else {
    const issues = solution.issues || [];
    view.append(
      el("p", { class: "empty" }, `No plan to draw: the status is ${solution.status}.`),
      issues.length
        ? pagedTable({ caption: "Issues", rows: issues, columns: [
            { label: "Field path", value: (i) => el("code", {}, i.path || "(document)") },
            { label: "Code", value: (i) => i.code },
            { label: "Detail", value: (i) => i.detail },
          ] })
        : null,
    );
    explanations.append(
      pagedTable({
        caption: "Explanations",
        rows: solution.explanations || [],
        columns: [
          { label: "Subject", value: (e) => e.subject },
          { label: "Code", value: (e) => e.code },
          { label: "Detail", value: (e) => e.detail },
        ],
      }),
    );
  }
  // First paint: the frame after the one in which the view's DOM was laid out.
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const ms = performance.now() - started;
  performance.measure(`view:${solution.kind}`, { start: started, duration: ms });
  view.dataset.firstPaintMs = ms.toFixed(1);
  return ms;
}
