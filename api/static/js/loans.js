// Loans: the loans table (from, to, ship day, arrival, lateness), each library's lent and
// borrowed balance as a chart, the courier runs and the settlement between libraries when the
// plan has them (contract 7.7, 7.8), and the unfilled requests with their reasons. Tables are
// paged, so a 20,000-loan batch puts 100 rows in the page at a time.

import { el, num, reasonsBySubject, svg, tip } from "./dom.js";
import { pagedTable } from "./table.js";

const W = 760;
const LABEL = 200;
const BAR = 16;

function balanceChart(rows) {
  const top = Math.max(1, ...rows.flatMap((r) => [r.lent, r.borrowed]));
  const half = (W - LABEL - 20) / 2;
  const mid = LABEL + half;
  const height = 28 + rows.length * BAR + 8;
  const x = (v) => (v / top) * (half - 30);
  const nodes = [
    svg("text", { x: mid - 6, y: 14, "text-anchor": "end", class: "axis-text" }, "◀ borrowed"),
    svg("text", { x: mid + 6, y: 14, class: "axis-text" }, "lent ▶"),
    svg("line", { x1: mid, x2: mid, y1: 20, y2: height, class: "tick-day" }),
  ];
  rows.forEach((r, k) => {
    const y = 24 + k * BAR;
    nodes.push(
      svg("g", { class: "balance-row", "data-library": r.id },
        svg("text", { x: LABEL - 6, y: y + BAR - 4, "text-anchor": "end", class: "row-label" }, r.label.length > 30 ? `${r.label.slice(0, 29)}…` : r.label),
        svg("rect", { x: mid - x(r.borrowed), y: y + 2, width: x(r.borrowed), height: BAR - 4, class: "bar-borrowed" }),
        svg("rect", { x: mid, y: y + 2, width: x(r.lent), height: BAR - 4, class: "bar-lent" }),
        svg("text", { x: mid - x(r.borrowed) - 4, y: y + BAR - 4, "text-anchor": "end", class: "axis-text" }, num(r.borrowed)),
        svg("text", { x: mid + x(r.lent) + 4, y: y + BAR - 4, class: "axis-text" }, num(r.lent)),
        tip(`${r.label}: lent ${r.lent}, borrowed ${r.borrowed}, balance ${r.lent - r.borrowed > 0 ? "+" : ""}${r.lent - r.borrowed}`),
      ),
    );
  });
  return el("figure", { class: "balance" },
    el("div", { class: "balance-scroll" },
      svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": `Lent and borrowed per library (${rows.length} libraries)`, class: "balance-svg" }, nodes)),
    el("figcaption", {}, el("ul", { class: "legend", "aria-label": "Balance legend" },
      el("li", {}, el("span", { class: "swatch bar-lent" }), "lent"),
      el("li", {}, el("span", { class: "swatch bar-borrowed" }), "borrowed"))));
}

function runsTable(runs, couriers, libName) {
  const route = (id) => {
    const c = couriers.get(id);
    return c ? `${libName(c.from)} → ${libName(c.to)}` : "–";
  };
  return pagedTable({
    caption: `Courier runs (${runs.length.toLocaleString("en")})`,
    rows: runs,
    columns: [
      { label: "Courier", value: (r) => r.courier },
      { label: "Route", value: (r) => route(r.courier) },
      { label: "Departs", value: (r) => r.day, nowrap: true },
      { label: "Items", value: (r) => `${num(r.items)} of ${num(couriers.get(r.courier)?.capacity)}`, numeric: true },
      { label: "Cost", value: (r) => num(r.cost, 2), numeric: true },
    ],
  });
}

function settlementTable(settlement, libName) {
  return pagedTable({
    caption: `Settlement at ${num(settlement.price, 2)} per net loan: who owes whom (${settlement.transfers.length.toLocaleString("en")})`,
    rows: settlement.transfers,
    empty: "every library lends as many loans as it receives.",
    columns: [
      { label: "Pays", value: (t) => libName(t.from) },
      { label: "Paid", value: (t) => libName(t.to) },
      { label: "Net loans", value: (t) => num(t.loans), numeric: true },
      { label: "Amount", value: (t) => num(t.amount, 2), numeric: true },
    ],
  });
}

export function render(container, solution, instance) {
  const plan = solution.solution;
  const requests = new Map((instance?.requests || []).map((q) => [q.id, q]));
  const libraries = new Map((instance?.libraries || []).map((l) => [l.id, l]));
  const libName = (id) => libraries.get(id)?.name || id;
  const borrower = (loan) => requests.get(loan.request)?.library || "?";
  const reasons = reasonsBySubject(solution);

  const balance = new Map([...libraries.keys()].map((id) => [id, { id, label: libName(id), lent: 0, borrowed: 0 }]));
  const row = (id) => {
    if (!balance.has(id)) balance.set(id, { id, label: libName(id), lent: 0, borrowed: 0 });
    return balance.get(id);
  };
  let late = 0;
  for (const loan of plan.loans) {
    row(loan.lender).lent += 1;
    if (requests.size) row(borrower(loan)).borrowed += 1;
    if (loan.late_days > 0) late += 1;
  }
  const balanceRows = [...balance.values()].sort((a, b) => b.lent + b.borrowed - (a.lent + a.borrowed) || a.id.localeCompare(b.id));
  const cost = plan.loans.reduce((s, l) => s + l.cost, 0);
  // With couriers (contract 7.7) a loan's cost is its handling; the runs carry the rest.
  const runs = plan.runs || [];
  const couriers = new Map((instance?.couriers || []).map((c) => [c.id, c]));
  const runCost = runs.reduce((s, r) => s + r.cost, 0);
  const spending = plan.runs
    ? `${num(runs.length)} courier runs costing ${num(runCost, 2)}, handling ${num(cost, 2)}.`
    : `shipping cost ${num(cost, 2)}.`;
  const courierColumns = plan.runs
    ? [
        { label: "Courier", value: (l) => l.courier || "–" },
        { label: "Back on", value: (l) => (l.return_ship ? `${l.return_ship} (${l.return_courier})` : "–"), nowrap: true },
      ]
    : [];

  container.append(
    el("p", { class: "summary" },
      `${num(plan.loans.length)} loans (${num(late)} late), ${num(plan.unfilled.length)} unfilled; ${spending}`),
    balanceChart(balanceRows),
    el("div", {},
      pagedTable({
        caption: `Loans (${plan.loans.length.toLocaleString("en")})`,
        rows: plan.loans,
        columns: [
          { label: "Request", value: (l) => l.request },
          { label: "From", value: (l) => libName(l.lender) },
          { label: "To", value: (l) => libName(borrower(l)) },
          { label: "Copy", value: (l) => l.copy },
          { label: "Ship day", value: (l) => l.ship, nowrap: true },
          { label: "Arrival", value: (l) => l.arrive, nowrap: true },
          ...courierColumns,
          { label: "Late (days)", value: (l) => (l.late_days ? el("strong", { class: "late" }, String(l.late_days)) : "0"), numeric: true },
          { label: "Cost", value: (l) => num(l.cost, 2), numeric: true },
        ],
      }),
    ),
    ...(plan.runs ? [runsTable(runs, couriers, libName)] : []),
    ...(plan.settlement ? [settlementTable(plan.settlement, libName)] : []),
    pagedTable({
      caption: `Unfilled requests (${plan.unfilled.length.toLocaleString("en")})`,
      rows: plan.unfilled,
      columns: [
        { label: "Request", value: (id) => id },
        { label: "Library", value: (id) => libName(requests.get(id)?.library || "–") },
        { label: "Titles", value: (id) => (requests.get(id)?.titles || []).join(", ") || "–" },
        { label: "Needed by", value: (id) => requests.get(id)?.needed_by || "–", nowrap: true },
        { label: "Reason", value: (id) => (reasons.get(id) || []).map((e) => e.code).join(", ") || "–" },
        { label: "Detail", value: (id) => (reasons.get(id) || []).map((e) => e.detail).join(" ") || "–" },
      ],
    }),
  );
}
