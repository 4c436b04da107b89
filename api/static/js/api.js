// The API client: every /v1 call of the page goes through here.
// With API keys set on the server, the first 401 opens the key dialog once; the key is kept
// in sessionStorage (this tab, until it closes) and sent as "Authorization: Bearer".

const KEY_ITEM = "unishare.apiKey";
let asking = null; // one dialog at a time, whatever number of calls got a 401

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY_ITEM);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

function askForKey(rejected) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const note = document.getElementById("key-note");
  note.textContent = rejected
    ? "That key was refused. Enter another API key."
    : "This server needs an API key. It is kept for this browser tab only.";
  input.value = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        asking = null;
        const key = dialog.returnValue === "ok" ? input.value.trim() : "";
        if (key) sessionStorage.setItem(KEY_ITEM, key);
        resolve(Boolean(key));
      },
      { once: true },
    );
  });
  dialog.showModal();
  return asking;
}

async function describe(response) {
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  let message = `${response.status} ${response.statusText}`;
  if (body && typeof body === "object" && body.detail) message = String(body.detail);
  if (body && typeof body === "object" && Array.isArray(body.issues) && body.issues.length) {
    message = body.issues.map((i) => `${i.path || "document"}: ${i.detail}`).join("; ");
  }
  return new ApiError(response.status, body, message);
}

/** fetch() with the key; on 401 asks for one (once) and tries again. */
export async function call(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const hadKey = Boolean(sessionStorage.getItem(KEY_ITEM));
    const response = await fetch(path, { ...init, headers: headers(init.headers) });
    if (response.status !== 401 || attempt > 2) return response;
    if (hadKey) sessionStorage.removeItem(KEY_ITEM);
    if (!(await askForKey(hadKey))) return response;
  }
}

export async function json(path, init = {}) {
  const response = await call(path, init);
  if (!response.ok) throw await describe(response);
  return response.json();
}

export async function blob(path, init = {}) {
  const response = await call(path, init);
  if (!response.ok) throw await describe(response);
  return response.blob();
}

export function postJson(path, text, init = {}) {
  return json(path, {
    method: "POST",
    body: text,
    headers: { "Content-Type": "application/json" },
    ...init,
  });
}

/**
 * Follows a job's server-sent events. EventSource cannot send an Authorization header, so
 * the stream is read with fetch; it resumes after the last event id when the connection
 * drops, and ends when the server closes it after the job has finished.
 */
export async function followEvents(jobId, onEvent, signal) {
  let lastId = null;
  for (let attempt = 0; attempt < 20 && !signal.aborted; attempt++) {
    const extra = lastId ? { "Last-Event-ID": lastId } : {};
    let response;
    try {
      response = await call(`/v1/jobs/${jobId}/events`, { headers: extra, signal });
    } catch (error) {
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (!response.ok) throw await describe(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let finished = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = { event: "message", data: "", id: null };
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") event.event = text;
            else if (field === "data") event.data += (event.data ? "\n" : "") + text;
            else if (field === "id") event.id = text;
          }
          if (event.id) lastId = event.id;
          if (!event.data) continue;
          const data = JSON.parse(event.data);
          onEvent(event.event, data);
          if (event.event === "status" && ["succeeded", "failed", "cancelled"].includes(data.status))
            finished = true;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    if (finished || signal.aborted) return;
    const job = await json(`/v1/jobs/${jobId}`);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return;
  }
}
