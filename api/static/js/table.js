// A paged table: only one page of rows is in the DOM, so 20,000 loans stay responsive.

import { el } from "./dom.js";

export const PAGE_SIZE = 100;

/**
 * columns: [{label, value: row => text or node, numeric?: bool, nowrap?: bool}]
 * Returns an element holding the table and its pager; rows are read only for the page shown.
 */
export function pagedTable({ caption, columns, rows, pageSize = PAGE_SIZE, empty = "None." }) {
  const wrapper = el("div", { class: "paged" });
  if (!rows.length) {
    wrapper.append(el("p", { class: "empty" }, caption ? `${caption}: ${empty}` : empty));
    return wrapper;
  }
  const pages = Math.ceil(rows.length / pageSize);
  let page = 0;
  const tbody = el("tbody");
  const table = el(
    "table",
    {},
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)))),
    tbody,
  );
  const status = el("span", { class: "pager-status", "aria-live": "polite" });
  const previous = el("button", { type: "button", "aria-label": `Previous page of ${caption}` }, "‹ Previous");
  const next = el("button", { type: "button", "aria-label": `Next page of ${caption}` }, "Next ›");
  const jump = el("input", {
    type: "number", min: 1, max: pages, value: 1, "aria-label": `Page of ${caption}`, class: "page-input",
  });

  function show(p) {
    page = Math.max(0, Math.min(pages - 1, p));
    const start = page * pageSize;
    const slice = rows.slice(start, start + pageSize);
    tbody.replaceChildren(
      ...slice.map((row) =>
        el("tr", {}, columns.map((c) => el("td", { class: c.numeric ? "num" : c.nowrap ? "nowrap" : null }, c.value(row) ?? ""))),
      ),
    );
    status.textContent = `Rows ${start + 1}–${start + slice.length} of ${rows.length.toLocaleString("en")}`;
    previous.disabled = page === 0;
    next.disabled = page === pages - 1;
    jump.value = page + 1;
  }
  previous.addEventListener("click", () => show(page - 1));
  next.addEventListener("click", () => show(page + 1));
  jump.addEventListener("change", () => show(Number(jump.value) - 1));
  wrapper.append(el("div", { class: "table-scroll" }, table));
  if (pages > 1) {
    wrapper.append(el("div", { class: "pager" }, previous, el("label", {}, "Page ", jump, ` of ${pages}`), next, status));
  } else {
    wrapper.append(el("div", { class: "pager" }, status));
  }
  show(0);
  return wrapper;
}
