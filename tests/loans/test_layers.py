"""The loans kind keeps its formulation apart from its strategy: the modules the solve is
built from never import the module that chooses among them, nor the formulation a solver."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import optimizer.loans

PACKAGE = Path(optimizer.loans.__file__).parent
# Every module but the orchestration and the package itself (which exposes ``solve``).
BELOW_MODEL = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "model"))


def imported_modules(name: str) -> set[str]:
    """Every module ``optimizer/loans/<name>.py`` imports, at any depth of its code."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("name", BELOW_MODEL)
def test_nothing_below_the_orchestration_imports_it(name: str) -> None:
    # colgen once imported model for the rows while model imported colgen: a cycle.
    assert "optimizer.loans.model" not in imported_modules(name)


def test_the_formulation_names_no_solver() -> None:
    solvers = ("highspy", "pulp", "ortools", "optimizer.core.highs", "optimizer.core.cpsat")
    imports = imported_modules("formulation")
    assert not [m for m in imports if m.startswith(solvers)]
