"""The one HiGHS adapter: time limits that count from each run, and threads every kind honours."""

from __future__ import annotations

import highspy
import numpy as np
import pytest

from optimizer.core import highs as highs_adapter
from optimizer.core.envelope import Status
from tests.loans.helpers import random_document, run


def _master_lp_after_many_runs(seconds: float) -> object:
    """A covering LP re-run with new columns (as column generation does) until HiGHS has
    spent ``seconds`` in it over all runs."""
    rng = np.random.default_rng(1)
    h = highs_adapter.new_highs(threads=1, seed=0)
    rows = 300
    no_entries = np.zeros(0, dtype=np.int32)
    h.addRows(rows, np.ones(rows), np.full(rows, highspy.kHighsInf), 0, no_entries, no_entries, [])
    while h.getRunTime() < seconds:
        for _ in range(50):
            members = np.sort(rng.choice(rows, 5, replace=False)).astype(np.int32)
            h.addCol(rng.uniform(1, 2), 0.0, highspy.kHighsInf, 5, members, np.ones(5))
        h.run()
    h.addCol(1.0, 0.0, highspy.kHighsInf, 5, np.arange(5, dtype=np.int32), np.ones(5))
    return h


def test_plain_time_limit_counts_from_the_objects_first_run():
    """The trap the adapter exists for: HiGHS's own limit spans all runs of the object."""
    h = _master_lp_after_many_runs(0.3)
    h.setOptionValue("time_limit", 0.25)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit


def test_run_time_limit_counts_from_the_call():
    """Regression: the groups master reused one HiGHS object with a plain time limit, so
    later LPs of a long column generation were cut short and gave no duals."""
    h = _master_lp_after_many_runs(0.3)
    assert highs_adapter.run(h, 0.25, feasible_counts=False) == Status.OPTIMAL


def test_loans_run_highs_on_the_threads_the_options_ask_for(monkeypatch):
    """Regression: loans ran HiGHS on its default thread count while `run.threads` said 1."""
    asked: list[int] = []
    real = highs_adapter.prepare_scheduler

    def spy(threads: int) -> None:
        asked.append(threads)
        real(threads)

    monkeypatch.setattr(highs_adapter, "prepare_scheduler", spy)
    solution = run(random_document(1, libraries=5, titles=4), solver="highs", threads=1)
    assert solution.status == Status.OPTIMAL
    assert solution.run.threads == 1
    assert asked and set(asked) == {1}


@pytest.mark.parametrize("maximise", [False, True])
def test_pass_model_states_the_sense_and_bounds(maximise):
    from scipy.sparse import csr_matrix

    h = highs_adapter.new_highs(threads=1, seed=0)
    # x0 + x1 <= 1 over binaries, costs (1, 2): max picks x1 (2), min picks nothing (0).
    matrix = csr_matrix(np.array([[1.0, 1.0]]))
    highs_adapter.pass_model(
        h, matrix, [1.0, 2.0], [-np.inf], [1.0], integer=True, maximise=maximise
    )
    assert highs_adapter.run(h, 5) == Status.OPTIMAL
    assert highs_adapter.objective_value(h) == (2.0 if maximise else 0.0)
