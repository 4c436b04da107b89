"""The shipped example instances solve to verified plans, and the large one is exactly what
its seeded generator writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status
from optimizer.loans.generate import western_consortium

EXAMPLES = Path(__file__).resolve().parents[2] / "instances" / "loans"


def test_western_consortium_file_matches_its_generator() -> None:
    shipped = json.loads((EXAMPLES / "western-consortium.json").read_text())
    assert shipped == json.loads(json.dumps(western_consortium()))
    assert len(shipped["libraries"]) == 25
    assert len(shipped["copies"]) == 3000
    assert len(shipped["requests"]) == 800


@pytest.mark.parametrize(
    "name", ["six-libraries", pytest.param("western-consortium", marks=pytest.mark.slow)]
)
def test_example_solves_to_a_verified_plan(name: str) -> None:
    raw = (EXAMPLES / f"{name}.json").read_bytes()
    solution = solve_document(raw, overrides={"threads": 1})
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert solution.verification.valid, solution.verification.violations
    rota = solve_document(raw, overrides={"threads": 1, "solver": "rota"})
    assert rota.verification.valid
    assert solution.objective <= rota.objective
    assert len(solution.explanations) == len(solution.solution["unfilled"])


def test_small_example_reads_as_documented() -> None:
    solution = solve_document((EXAMPLES / "six-libraries.json").read_bytes())
    assert solution.status == Status.OPTIMAL
    codes = {e.subject: e.code for e in solution.explanations}
    assert codes["lzu-rare"] == "no_copy"
    loans = solution.solution["loans"]
    calc = [x for x in loans if x["copy"] == "xjtu-calc-1"]
    assert len(calc) == 2  # the popular calculus text is lent twice in a row
