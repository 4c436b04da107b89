// Earlier jobs: status, kind, name, objective; reopen one.

import * as api from "./api.js";
import { el, num } from "./dom.js";

const PAGE = 20;
let offset = 0;

/** The objective of a job: its progress, else the final status event of its stream (a solve
 * that ends before reporting an improving solution has none in its progress). */
const finalObjective = new Map(); // job id -> objective read off its stream
let reading = Promise.resolve(); // one stream at a time: a browser opens few per host

function objectiveCell(job) {
  const known = job.progress?.objective ?? finalObjective.get(job.id);
  const cell = el("td", { class: "num" }, num(known));
  if (job.status === "succeeded" && (known === null || known === undefined)) {
    const controller = new AbortController();
    reading = reading
      .then(() =>
        api.followEvents(job.id, (event, data) => {
          if (event === "status" && data.objective !== undefined) {
            finalObjective.set(job.id, data.objective);
            cell.textContent = num(data.objective);
          }
        }, controller.signal),
      )
      .catch(() => {});
  }
  return cell;
}

export async function refresh(onOpen) {
  const box = document.getElementById("jobs-list");
  const note = document.getElementById("jobs-note");
  const page = await api.json(`/v1/jobs?limit=${PAGE}&offset=${offset}`);
  note.textContent = page.total
    ? `Jobs ${page.offset + 1}–${page.offset + page.items.length} of ${page.total}, newest first.`
    : "No jobs yet.";
  if (!page.items.length) {
    box.replaceChildren();
    return;
  }
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); refresh(onOpen); } }, "‹ Newer"),
    el("button", { type: "button", disabled: page.next_offset === null, onclick: () => { offset = page.next_offset; refresh(onOpen); } }, "Older ›"),
  );
  box.replaceChildren(
    el("table", { "aria-label": "Earlier jobs" },
      el("thead", {}, el("tr", {}, ["Created", "Status", "Kind", "Name", "Objective", "Outcome", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, page.items.map((job) =>
        el("tr", { "data-job": job.id },
          el("td", {}, new Date(job.created_at).toLocaleString()),
          el("td", {}, el("span", { class: `badge ${job.status}` }, job.status)),
          el("td", {}, job.kind),
          el("td", {}, job.name || "–"),
          objectiveCell(job),
          el("td", {}, job.solution_status || job.error || "–"),
          el("td", {}, el("button", { type: "button", "aria-label": `Open job ${job.name || job.id}`, onclick: () => onOpen(job.id) }, "Open")),
        ))),
    ),
    pager,
  );
}
