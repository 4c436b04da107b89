"""The shared solve path: whatever a model claims, the reported status, objective and bound
follow from the independent verifier and the proven bound.

A fake kind stands in for a real one, so each test states exactly what the model claims.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

import pytest

from optimizer.core.envelope import Explanation, InstanceBase, Options, Status, Verification
from optimizer.core.runner import Kind, Outcome, SolveContext, instance_sha256

SOLUTION = {"picked": [1, 2]}


class Toy(InstanceBase):
    kind: Literal["toy"] = "toy"
    value: float = 10.0
    minimise: bool = False


def verified(objective: float):
    def verify(instance: Toy, solution: dict[str, Any]) -> Verification:
        return Verification(checked=True, valid=True, objective=objective)

    return verify


def rejected(instance: Toy, solution: dict[str, Any]) -> Verification:
    return Verification(
        checked=True, valid=False, violations=["pair (a, b) is not a candidate"], objective=3.0
    )


def kind(model, verify=None, maximize=True) -> Kind[Toy]:
    return Kind(
        name="toy",
        summary="A test kind.",
        instance_model=Toy,
        solvers=("auto", "highs"),
        build_and_solve=model,
        verify=verify or verified(10.0),
        maximize=maximize,
    )


def claims(status: Status, bound: float | None, solution=SOLUTION, **extra):
    def model(instance: Toy, context: SolveContext) -> Outcome:
        return Outcome(status, "fake", solution=solution, bound=bound, **extra)

    return model


def run(toy: Kind[Toy], **options: Any):
    return toy.solve(Toy(), Options(**options))


def test_optimal_with_a_closing_bound_stays_optimal():
    s = run(kind(claims(Status.OPTIMAL, 10.0)))
    assert (s.status, s.objective, s.bound, s.gap) == (Status.OPTIMAL, 10.0, 10.0, 0.0)
    assert s.verification.valid


def test_optimal_with_a_loose_bound_is_downgraded_to_feasible():
    s = run(kind(claims(Status.OPTIMAL, 12.0)))
    assert s.status == Status.FEASIBLE
    assert (s.objective, s.bound) == (10.0, 12.0)
    assert s.gap == pytest.approx(0.2)


def test_a_bound_within_the_requested_gap_counts_as_optimal():
    assert run(kind(claims(Status.OPTIMAL, 10.5)), relative_gap=0.05).status == Status.OPTIMAL
    assert run(kind(claims(Status.OPTIMAL, 10.5)), relative_gap=0.04).status == Status.FEASIBLE
    assert run(kind(claims(Status.OPTIMAL, 10.0 + 1e-7))).status == Status.OPTIMAL


def test_optimal_without_a_bound_takes_the_objective_as_bound():
    s = run(kind(claims(Status.OPTIMAL, None)))
    assert (s.status, s.bound, s.gap) == (Status.OPTIMAL, 10.0, 0.0)


def test_feasible_is_never_promoted():
    s = run(kind(claims(Status.FEASIBLE, 10.0)))
    assert s.status == Status.FEASIBLE
    assert s.gap == 0.0


def test_the_objective_is_the_verifiers_not_the_models():
    s = run(kind(claims(Status.OPTIMAL, 7.25), verify=verified(7.25)))
    assert (s.status, s.objective) == (Status.OPTIMAL, 7.25)


def test_a_solution_that_fails_verification_is_an_error():
    s = run(kind(claims(Status.OPTIMAL, 10.0), verify=rejected))
    assert s.status == Status.ERROR
    assert s.verification.checked and s.verification.valid is False
    assert s.verification.violations == ["pair (a, b) is not a candidate"]
    assert s.solution == SOLUTION  # kept, so the bug can be inspected


def test_a_bound_on_the_wrong_side_is_an_error():
    # maximising: a proven upper bound below the verified objective is impossible
    s = run(kind(claims(Status.OPTIMAL, 9.0)))
    assert s.status == Status.ERROR
    assert s.verification.valid is False
    assert any("wrong side" in v for v in s.verification.violations)


def test_minimisation_reads_the_bound_from_below():
    s = run(kind(claims(Status.OPTIMAL, 8.0), maximize=False))
    assert (s.status, s.gap) == (Status.FEASIBLE, pytest.approx(0.2))
    s = run(kind(claims(Status.OPTIMAL, 11.0), maximize=False))
    assert s.status == Status.ERROR


def test_the_sense_may_depend_on_the_instance():
    solver = kind(claims(Status.OPTIMAL, 8.0), maximize=lambda inst: not inst.minimise)
    assert solver.solve(Toy(minimise=True), Options()).status == Status.FEASIBLE
    assert solver.solve(Toy(minimise=False), Options()).status == Status.ERROR


def test_statuses_without_a_solution_pass_through():
    for status in (Status.INFEASIBLE, Status.NO_SOLUTION):
        s = run(kind(claims(status, None, solution=None)))
        assert s.status == status
        assert s.objective is None and s.gap is None
        assert s.verification.checked is False
    s = run(kind(claims(Status.NO_SOLUTION, 14.0, solution=None)))
    assert s.bound == 14.0


def test_a_crashing_model_is_an_error_with_the_reason():
    def model(instance: Toy, context: SolveContext) -> Outcome:
        raise ZeroDivisionError("nobody to pair")

    s = run(kind(model))
    assert s.status == Status.ERROR
    (e,) = s.explanations
    assert e.code == "internal_error"
    assert "ZeroDivisionError: nobody to pair" in e.detail
    assert "ZeroDivisionError" in s.kpis["traceback"]


def test_an_unsupported_solver_is_refused_before_solving():
    called = []

    def model(instance: Toy, context: SolveContext) -> Outcome:
        called.append(True)
        return Outcome(Status.OPTIMAL, "fake", solution=SOLUTION)

    s = run(kind(model), solver="cp-sat")
    assert s.status == Status.INVALID
    assert [(i.code, i.path) for i in s.issues] == [("unsupported_solver", "options.solver")]
    assert "auto, highs" in s.issues[0].detail
    assert called == []


def test_explanations_follow_the_explain_option_except_for_infeasible():
    reason = [Explanation(subject="x", code="capacity_zero", detail="x has capacity 0")]
    feasible = kind(claims(Status.OPTIMAL, 10.0, explanations=reason))
    assert run(feasible).explanations == reason
    assert run(feasible, explain=False).explanations == []
    infeasible = kind(claims(Status.INFEASIBLE, None, solution=None, explanations=reason))
    assert run(infeasible, explain=False).explanations == reason


def test_run_metadata():
    def model(instance: Toy, context: SolveContext) -> Outcome:
        assert context.options.seed == 5
        return Outcome(Status.OPTIMAL, "fake", solution=SOLUTION, bound=10.0, solver_version="1.2")

    s = kind(model).solve(Toy(name="toy-1"), Options(seed=5, threads=0, time_limit_s=3))
    assert s.kind == "toy" and s.name == "toy-1"
    assert (s.run.solver, s.run.solver_version, s.run.seed) == ("fake", "1.2", 5)
    assert s.run.threads == (os.cpu_count() or 1)  # 0 = all cores
    assert s.run.time_limit_s == 3
    assert s.run.runtime_s >= 0
    assert s.run.instance_sha256 == instance_sha256(Toy(name="toy-1"))


def test_instance_fingerprint_ignores_options_but_not_content():
    a = instance_sha256(Toy(options=Options(seed=1)))
    assert a == instance_sha256(Toy(options=Options(seed=2, time_limit_s=1)))
    assert a != instance_sha256(Toy(value=11.0))
    assert len(a) == 64


def test_the_instance_options_are_used_when_none_are_given():
    seen = []

    def model(instance: Toy, context: SolveContext) -> Outcome:
        seen.append(context.options.seed)
        return Outcome(Status.OPTIMAL, "fake", solution=SOLUTION, bound=10.0)

    kind(model).solve(Toy(options=Options(seed=42)))
    assert seen == [42]


def test_progress_and_stop_reach_the_model():
    updates = []
    stop = threading.Event()
    stop.set()

    def model(instance: Toy, context: SolveContext) -> Outcome:
        assert context.stop.is_set()
        context.report(objective=4.0, bound=11.0, phase="search")
        return Outcome(Status.FEASIBLE, "fake", solution=SOLUTION, bound=11.0)

    kind(model).solve(Toy(), Options(), progress=updates.append, stop=stop)
    (update,) = updates
    assert (update.objective, update.bound, update.phase) == (4.0, 11.0, "search")
    assert update.elapsed_s >= 0


def test_context_clock():
    context = SolveContext(options=Options(time_limit_s=100))
    assert 99 < context.remaining() <= 100
    assert SolveContext(options=Options(time_limit_s=1e-9)).remaining() == 0.0


def test_a_verifier_that_raises_rejects_the_solution_instead_of_crashing():
    """Regression: an exception inside kind.verify (say, a malformed solution payload)
    escaped run_solve and stopped the whole CLI batch; it is now status error."""

    def broken(instance: Toy, solution: dict[str, Any]) -> Verification:
        raise KeyError("score")

    s = run(kind(claims(Status.OPTIMAL, 10.0), verify=broken))
    assert s.status == Status.ERROR
    assert s.verification.valid is False
    assert "KeyError" in s.verification.violations[0]
    s = run(kind(claims(Status.INFEASIBLE, None), verify=broken))
    assert s.status == Status.INFEASIBLE  # nothing to verify was claimed
