// The instance: a shipped example, an uploaded JSON file or spreadsheet, or pasted JSON;
// validation issues shown beside the field path they name and the value found there.

import * as api from "./api.js";
import { el } from "./dom.js";

export const examples = new Map(); // "kind/stem" -> document
export let kinds = []; // [{kind, summary, solvers}]

const text = () => document.getElementById("document-text");

/** The kinds and their examples, into the pickers. */
export async function loadCatalogue() {
  kinds = await api.json("/v1/kinds");
  const select = document.getElementById("example-select");
  const importKind = document.getElementById("import-kind");
  select.replaceChildren();
  importKind.replaceChildren(...kinds.map((k) => el("option", { value: k.kind }, k.kind)));
  for (const k of kinds) {
    const found = await api.json(`/v1/kinds/${k.kind}/examples`);
    const group = el("optgroup", { label: k.kind });
    for (const [stem, doc] of Object.entries(found)) {
      examples.set(`${k.kind}/${stem}`, doc);
      group.append(el("option", { value: `${k.kind}/${stem}` }, `${stem} (${k.kind})`));
    }
    select.append(group);
  }
}

/** Parses the editor's text; null (with an issue shown) when it is not JSON. */
export function currentDocument() {
  try {
    return JSON.parse(text().value);
  } catch (error) {
    showIssues([{ code: "malformed_json", severity: "error", path: "", detail: `not valid JSON: ${error.message}` }], null);
    return null;
  }
}

export function setDocument(doc, origin) {
  // Large documents are written compactly: pretty-printing 13 MB would slow the editor down.
  const compact = JSON.stringify(doc).length > 2_000_000;
  text().value = compact ? JSON.stringify(doc) : JSON.stringify(doc, null, 2);
  summarise(doc, origin);
  document.dispatchEvent(new CustomEvent("document-changed", { detail: { doc, loaded: true } }));
}

function summarise(doc, origin) {
  const counts = Object.entries(doc || {})
    .filter(([, v]) => Array.isArray(v))
    .map(([k, v]) => `${v.length.toLocaleString("en")} ${k}`)
    .join(", ");
  document.getElementById("document-summary").textContent =
    `${origin}: ${doc.kind ?? "no kind"}${doc.name ? ` “${doc.name}”` : ""}${counts ? ` — ${counts}` : ""}`;
}

/** Splits "requests[3].steps[0].instruments[1]" into ["requests", 3, "steps", 0, …]. */
export function pathParts(path) {
  const parts = [];
  for (const m of (path || "").matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    parts.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  }
  return parts;
}

function valueAt(doc, path) {
  let value = doc;
  for (const part of pathParts(path)) {
    if (value === null || typeof value !== "object" || !(part in value)) return undefined;
    value = value[part];
  }
  return value;
}

function preview(value) {
  if (value === undefined) return "(absent)";
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/** Issues as a table: severity, the field path, the value there, what is wrong. */
export function showIssues(issues, doc, { valid = null, origin = "" } = {}) {
  const box = document.getElementById("issues");
  if (!issues.length) {
    box.replaceChildren(el("p", { class: "ok" }, valid === false ? "Invalid." : `Valid${origin}: no issues.`));
    return;
  }
  const errors = issues.filter((i) => i.severity !== "warning").length;
  // Issues of an imported spreadsheet also name their cell: sheet, row and column.
  const cells = issues.some((i) => i.sheet);
  const cell = (i) => (i.sheet ? `${i.sheet}, row ${i.row ?? "–"}${i.column ? `, ${i.column}` : ""}` : "");
  const heading = errors
    ? `${errors} issue${errors > 1 ? "s" : ""} to fix before solving${origin}`
    : `Valid${origin}, with ${issues.length} warning${issues.length > 1 ? "s" : ""}`;
  box.replaceChildren(
    el("table", { class: "issues", "aria-label": "Validation issues" },
      el("caption", {}, heading),
      el("thead", {}, el("tr", {}, ["Severity", "Field path", "Value there", "Code", "What is wrong", cells ? "Spreadsheet cell" : null].filter(Boolean).map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, issues.map((i) =>
        el("tr", { class: i.severity === "warning" ? "warning" : "error" },
          el("td", {}, i.severity || "error"),
          el("td", {}, el("code", { class: "path" }, i.path || "(document)")),
          el("td", {}, el("code", {}, doc ? preview(valueAt(doc, i.path)) : "")),
          el("td", {}, i.code),
          el("td", {}, i.detail),
          cells ? el("td", {}, cell(i)) : null,
        ))),
    ),
  );
}

export async function validate() {
  const doc = currentDocument();
  if (doc === null) return false;
  summarise(doc, "Document");
  const report = await api.postJson("/v1/validate", text().value);
  showIssues(report.issues, doc, { valid: report.valid });
  return report.valid;
}

async function readFile(file) {
  if (file.name.toLowerCase().endsWith(".xlsx")) {
    const kind = document.getElementById("import-kind").value;
    const response = await api.call(`/v1/import?kind=${encodeURIComponent(kind)}`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
    });
    if (response.status === 404 || response.status === 405) {
      showIssues([{ code: "import_unavailable", severity: "error", path: "", detail: "this server does not import spreadsheets (no POST /v1/import)" }], null);
      return;
    }
    const body = await response.json();
    if (!body.document) {
      showIssues(body.issues || [{ code: "import_failed", severity: "error", path: "", detail: body.detail || response.statusText }], null);
      return;
    }
    setDocument(body.document, `Imported from ${file.name}`);
    showIssues(body.issues || [], body.document, { valid: body.valid, origin: ` (from ${file.name})` });
    return;
  }
  const doc = JSON.parse(await file.text());
  setDocument(doc, `From ${file.name}`);
  await validate();
}

export function wire(onError) {
  document.getElementById("load-example").addEventListener("click", async () => {
    const key = document.getElementById("example-select").value;
    if (!examples.has(key)) return;
    setDocument(examples.get(key), `Example ${key}`);
    await validate().catch(onError);
  });
  document.getElementById("file-input").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await readFile(file).catch(onError);
    event.target.value = "";
  });
  document.getElementById("validate").addEventListener("click", () => validate().catch(onError));
  document.getElementById("download-template").addEventListener("click", async () => {
    const kind = document.getElementById("import-kind").value;
    const { saveFrom } = await import("./downloads.js");
    await saveFrom(`/v1/kinds/${kind}/template.xlsx`, `${kind}-template.xlsx`, "spreadsheet templates").catch(onError);
  });
  text().addEventListener("change", () => {
    try {
      const doc = JSON.parse(text().value);
      summarise(doc, "Document");
      // An edit keeps the time limit and solver the planner chose, unless the kind changed.
      document.dispatchEvent(new CustomEvent("document-changed", { detail: { doc, loaded: false } }));
    } catch {
      // shown on validate
    }
  });
}
