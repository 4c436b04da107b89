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
