// The page's wiring: instance -> job -> progress -> plan, and the list of earlier jobs.

import * as api from "./api.js";
import * as downloads from "./downloads.js";
import * as input from "./input.js";
import * as jobs from "./jobs.js";
import { Progress } from "./progress.js";
import * as result from "./result.js";
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
const FINISHED = ["succeeded", "failed", "cancelled"];

const state = { job: null, solution: null, instance: null, follow: null };
const progress = new Progress();

function say(text) {
  $("job-status").textContent = text;
}

function onError(error) {
  console.error(error);
  say(`Error: ${error.message || error}`);
}

let shownKind = null;

function solversFor(doc, loaded) {
  const kind = doc?.kind;
  if (!loaded && kind === shownKind) return;
  shownKind = kind;
  const select = $("solver");
  const info = input.kinds.find((k) => k.kind === kind);
  const solvers = info ? info.solvers : [];
  select.replaceChildren(
    new Option("as in the document", ""),
    ...solvers.map((s) => new Option(s, s)),
  );
  const wanted = doc?.options?.solver;
  if (wanted && solvers.includes(wanted)) select.value = wanted;
  $("time-limit").value = doc?.options?.time_limit_s ?? 30;
}

document.addEventListener("document-changed", (event) => solversFor(event.detail.doc, event.detail.loaded));

/** The instance of a job: kept in this browser when it was submitted here, else an example. */
async function instanceOf(job) {
  const kept = await store.recall(job.id);
  if (kept) return kept;
  for (const [key, doc] of input.examples) {
    if (key.startsWith(`${job.kind}/`) && (doc.name === job.name || key.endsWith(`/${job.name}`))) return doc;
  }
  return null;
}

async function showSolution(job) {
  const fetched = performance.now();
  const solution = await api.json(`/v1/jobs/${job.id}/solution`);
  state.solution = solution;
  const view = $("view");
  view.dataset.job = job.id;
  view.dataset.fetchMs = (performance.now() - fetched).toFixed(1);
  const ms = await result.show(solution, state.instance);
  say(`Job ${job.name || job.id} ${job.status}: ${solution.status}${solution.objective !== null ? `, objective ${solution.objective}` : ""}. Drawn in ${ms.toFixed(0)} ms.`);
}

async function follow(job) {
  state.follow?.abort();
  const controller = new AbortController();
  state.follow = controller;
  $("cancel").disabled = false;
  progress.reset();
  let status = job.status;
  say(`Job ${job.name || job.id} is ${status}.`);
  await api.followEvents(
    job.id,
    (event, data) => {
      if (event === "solution") {
        progress.add(data);
        say(`Job ${job.name || job.id} is running: objective ${data.objective}${data.gap !== null && data.gap !== undefined ? `, gap ${(data.gap * 100).toFixed(2)}%` : ""}.`);
      } else if (event === "status") {
        status = data.status;
        say(`Job ${job.name || job.id} is ${status}${data.cancel_requested ? " (cancelling)" : ""}.`);
      }
    },
    controller.signal,
  );
  if (controller.signal.aborted) return;
  $("cancel").disabled = true;
  const final = await api.json(`/v1/jobs/${job.id}`);
  state.job = final;
  if (FINISHED.includes(final.status)) {
    try {
      await showSolution(final);
      // The final answer closes the chart: a fast solve may send no improving solution first.
      const s = state.solution;
      if (s.objective !== null) {
        progress.add({ elapsed_s: final.progress?.elapsed_s ?? 0, objective: s.objective, bound: s.bound, gap: s.gap, phase: `final: ${s.status}` });
      }
    } catch (error) {
      say(`Job ${final.name || final.id} ${final.status}${final.error ? `: ${final.error}` : ""} (${error.message}).`);
    }
  }
  jobs.refresh((id) => open(id).catch(onError)).catch(onError);
}

async function submit() {
  const valid = await input.validate();
  if (!valid) {
    say("Fix the issues above before solving.");
    return;
  }
  const text = $("document-text").value;
  const doc = JSON.parse(text);
  const query = new URLSearchParams();
  const limit = Number($("time-limit").value);
  if (limit > 0) query.set("time_limit_s", String(limit));
  if ($("solver").value) query.set("solver", $("solver").value);
  const accepted = await api.postJson(`/v1/jobs?${query}`, text);
  document.body.dataset.job = accepted.id;
  await store.keep(accepted.id, doc);
  state.job = accepted;
  state.instance = doc;
  state.solution = null;
  $("result").hidden = true;
  await follow(accepted);
}

async function cancel() {
  if (!state.job) return;
  const job = await api.json(`/v1/jobs/${state.job.id}`, { method: "DELETE" });
  say(`Job ${job.name || job.id}: ${job.status === "cancelled" ? "cancelled" : "asked to stop; it keeps its best solution so far"}.`);
}

/** Reopens an earlier job: its plan when finished, its progress while it runs. */
async function open(jobId) {
  const job = await api.json(`/v1/jobs/${jobId}`);
  document.body.dataset.job = job.id;
  state.job = job;
  state.instance = await instanceOf(job);
  state.solution = null;
  $("result").hidden = true;
  if (FINISHED.includes(job.status)) {
    state.follow?.abort();
    $("cancel").disabled = true;
    $("progress").hidden = true;
    await showSolution(job).catch(() => say(`Job ${job.name || job.id} ${job.status} without a solution${job.error ? `: ${job.error}` : ""}.`));
  } else {
    await follow(job);
  }
  $("result").scrollIntoView({ block: "start" });
}

async function start() {
  input.wire(onError);
  downloads.wire(() => ({ ...state.job, solution: state.solution }), onError);
  $("submit").addEventListener("click", () => submit().catch(onError));
  $("cancel").addEventListener("click", () => cancel().catch(onError));
  $("refresh-jobs").addEventListener("click", () => jobs.refresh((id) => open(id).catch(onError)).catch(onError));
  await input.loadCatalogue();
  await jobs.refresh((id) => open(id).catch(onError));
  document.body.dataset.ready = "true";
}

start().catch(onError);
