// The documents of jobs submitted from this browser, kept in IndexedDB by job id, so that a
// reopened job is drawn with its names, places and calendars (the API returns the solution,
// not the instance). IndexedDB holds a 13 MB loans batch where sessionStorage could not.

const DB = "unishare-page";
const STORE = "documents";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, action) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    tx.oncomplete = () => {
      db.close();
      resolve(request.result);
    };
    tx.onerror = () => reject(tx.error);
  });
}

export async function keep(jobId, doc) {
  try {
    await run("readwrite", (s) => s.put(doc, jobId));
  } catch {
    // A private window may refuse storage: reopening then falls back to the examples.
  }
}

export async function recall(jobId) {
  try {
    return (await run("readonly", (s) => s.get(jobId))) ?? null;
  } catch {
    return null;
  }
}
