"""Solution documents as people read them, for ``unishare show``.

The headline, explanations and issues are the same for every kind; the tables of the plan
itself are each kind's ``render`` hook. The solution document alone is enough; given its
instance too, the views add what only the instance knows (names, regions, sites, steps).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from optimizer.core.scenarios import Comparison


def render(solution: dict[str, Any], instance: dict[str, Any] | None = None) -> RenderableType:
    """The whole view of one solution document."""
    from optimizer.registry import KINDS

    parts: list[RenderableType] = [_headline(solution)]
    kind = KINDS.get(str(solution.get("kind")))
    if kind is not None and kind.render is not None and solution.get("solution"):
        parts += kind.render(solution, instance)
    parts += _explanations(solution)
    # A blank line before each table keeps its title apart from the rows above.
    parts = [
        p for part in parts for p in ((Text(""), part) if isinstance(part, Table) else (part,))
    ]
    for issue in solution.get("issues") or []:
        parts.append(Text(f"{issue.get('code')} at {issue.get('path') or '(document)'}: "
                          f"{issue.get('detail')}", style="red"))  # fmt: skip
    return Group(*parts)


def _headline(solution: dict[str, Any]) -> Text:
    status = str(solution.get("status"))
    line = Text()
    line.append(f"{solution.get('name') or '(unnamed)'}", style="bold")
    line.append(f" · {solution.get('kind')} · ")
    line.append(status, style="green" if status == "optimal" else "yellow")
    if solution.get("objective") is not None:
        line.append(f" · objective {solution['objective']:,.6g}")
    if solution.get("bound") is not None:
        line.append(f" · bound {solution['bound']:,.6g}")
    if solution.get("gap") is not None:
        line.append(f" · gap {solution['gap']:.2%}")
    verification = solution.get("verification") or {}
    if verification.get("checked"):
        line.append(" · verified" if verification.get("valid") else " · NOT VALID",
                    style=None if verification.get("valid") else "red")  # fmt: skip
    return line


def _explanations(solution: dict[str, Any]) -> list[RenderableType]:
    explanations = solution.get("explanations") or []
    if not explanations:
        return []
    table = Table(title="why", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("subject")
    table.add_column("code")
    table.add_column("detail")
    for e in explanations:
        table.add_row(str(e.get("subject")), str(e.get("code")), str(e.get("detail")))
    return [table]


def comparison_view(comparison: Comparison) -> RenderableType:
    """One row per scenario: its outcome, what changed in the plan against the base, and
    the variant's price; then the KPIs that moved."""
    maximize = comparison.maximize
    table = Table(
        title=f"scenarios · {comparison.kind} · objective "
        + ("maximised" if maximize else "minimised"),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for column in ("scenario", "status", "objective", "bound", "kept", "moved", "dropped",
                   "added", "price", "price range"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("scenario", "status") else "right")
    base = comparison.base
    table.add_row(f"{base.name} (base)", base.status.value, _number(base.objective),
                  _number(base.bound), *[""] * 6)  # fmt: skip
    for v in comparison.variants:
        diff, price = v.diff, v.price
        counts = (
            [str(getattr(diff, k)) for k in ("kept", "moved", "dropped", "added")]
            if diff
            else [""] * 4
        )
        if price is None:
            cost, span = "", v.detail or ""
        else:
            cost = _number(price.difference)
            span = "exact" if price.exact else f"[{_number(price.low)}, {_number(price.high)}]"
        table.add_row(str(v.name), v.status.value, _number(v.objective), _number(v.bound),
                      *counts, cost, span)  # fmt: skip
    parts: list[RenderableType] = [table]
    moved = Table(title="KPIs that moved", title_justify="left", show_edge=False, pad_edge=False)
    moved.add_column("scenario")
    moved.add_column("kpi")
    for column in ("base", "scenario", "difference"):
        moved.add_column(column, justify="right")
    for v in comparison.variants:
        for key, change in v.kpi_changes.items():
            if change.difference != 0:
                moved.add_row(str(v.name), key, _number(change.base), _number(change.scenario),
                              f"{change.difference:+,.6g}")  # fmt: skip
    if moved.row_count:
        parts += [Text(""), moved]
    for v in comparison.variants:
        for issue in v.issues:
            if issue.severity == "error":
                parts.append(Text(f"{v.name}: {issue.code} at {issue.path or '(document)'}: "
                                  f"{issue.detail}", style="red"))  # fmt: skip
    return Group(*parts)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:,.6g}"
