// Downloads: fetched with the API key (a plain link could not send it), saved from a blob.

import * as api from "./api.js";

const note = () => document.getElementById("download-note");

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Saves what a GET of ``path`` answers; says so plainly when the server has no such export. */
export async function saveFrom(path, filename, what) {
  note().textContent = "";
  const response = await api.call(path);
  if (response.status === 404 || response.status === 405) {
    let detail = "";
    try {
      detail = (await response.json()).detail || "";
    } catch {
      // no body
    }
    // An unknown job says so in its detail; a missing route is FastAPI's plain "Not Found".
    note().textContent = detail && detail !== "Not Found" ? detail : `This server does not offer ${what}.`;
    return false;
  }
  if (!response.ok) {
    note().textContent = `${response.status}: ${(await response.text()).slice(0, 200)}`;
    return false;
  }
  saveBlob(await response.blob(), filename);
  note().textContent = `Saved ${filename}.`;
  return true;
}

export function wire(getJob, onError) {
  const name = (ext) => `${getJob().name || getJob().id}.solution.${ext}`;
  document.getElementById("download-json").addEventListener("click", () => {
    const { solution } = getJob();
    saveBlob(new Blob([JSON.stringify(solution, null, 2)], { type: "application/json" }), name("json"));
    note().textContent = `Saved ${name("json")}.`;
  });
  document.getElementById("download-csv").addEventListener("click", () =>
    saveFrom(`/v1/jobs/${getJob().id}/solution.csv`, name("csv"), "CSV exports").catch(onError),
  );
  document.getElementById("download-xlsx").addEventListener("click", () =>
    saveFrom(`/v1/jobs/${getJob().id}/solution.xlsx`, name("xlsx"), "spreadsheet exports").catch(onError),
  );
  document.getElementById("download-ics").addEventListener("click", () => {
    const scope = document.getElementById("ics-scope").value; // "", "instrument=ID" or "institution=ID"
    const suffix = scope ? `-${scope.split("=")[1]}` : "";
    const query = scope ? `?${scope.split("=")[0]}=${encodeURIComponent(scope.split("=")[1])}` : "";
    saveFrom(`/v1/jobs/${getJob().id}/solution.ics${query}`, name("ics").replace(/\.ics$/, `${suffix}.ics`), "iCalendar exports").catch(onError);
  });
}
