"""The western consortium and four rules a planner might adopt, compared in one command and
in one HTTP call; every number is checked against separate solves of each scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Solution, Status
from optimizer.core.scenarios import merge_patch
from tests.api.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

BASE = REPO_ROOT / "instances" / "loans" / "western-consortium.json"
PATCHES = sorted((REPO_ROOT / "instances" / "loans" / "scenarios").glob("*.patch.json"))
OPTIONS = {"threads": 1, "seed": 1, "time_limit_s": 60}


@pytest.fixture(scope="module")
def separate() -> dict[str, Solution]:
    """Each scenario solved on its own, by name."""
    base = json.loads(BASE.read_text())
    solutions = {"base": solve_document(base, overrides=OPTIONS)}
    for path in PATCHES:
        patch = json.loads(path.read_text())
        solutions[patch["name"]] = solve_document(merge_patch(base, patch), overrides=OPTIONS)
    assert all(s.status in (Status.OPTIMAL, Status.FEASIBLE) for s in solutions.values())
    return solutions


def loans(solution: Solution | dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    payload = solution.solution if isinstance(solution, Solution) else solution["solution"]
    assert payload is not None
    return {x["request"]: (x["lender"], x["copy"], x["ship"]) for x in payload["loans"]}


def check(comparison: dict[str, Any], separate: dict[str, Solution]) -> None:
    """Every figure of the comparison against the separate solves."""
    reference = separate["base"]
    assert comparison["base"]["objective"] == reference.objective
    assert [v["name"] for v in comparison["variants"]] == [
        json.loads(p.read_text())["name"] for p in PATCHES
    ]
    before = loans(reference)
    for variant in comparison["variants"]:
        alone = separate[variant["name"]]
        assert (variant["status"], variant["objective"], variant["bound"]) == (
            alone.status.value,
            alone.objective,
            alone.bound,
        )
        after = loans(alone)
        diff = variant["diff"]
        assert diff["kept"] == sum(1 for r in before if after.get(r) == before[r])
        assert diff["moved"] == sum(1 for r in before if r in after and after[r] != before[r])
        assert diff["dropped"] == len(before.keys() - after.keys())
        assert diff["added"] == len(after.keys() - before.keys())
        assert {m["item"] for m in diff["moved_items"]} == {
            r for r in before if r in after and after[r] != before[r]
        }
        price = variant["price"]
        proven = alone.status == reference.status == Status.OPTIMAL
        assert price["exact"] is proven
        # Loans are minimised: the variant's price is its optimum less the base's.
        assert price["difference"] == pytest.approx(alone.objective - reference.objective)
        assert price["low"] == pytest.approx(alone.bound - reference.objective)
        assert price["high"] == pytest.approx(alone.objective - reference.bound)
        for key, change in variant["kpi_changes"].items():
            assert change["base"] == reference.kpis[key]
            assert change["scenario"] == alone.kpis[key]
            assert change["difference"] == pytest.approx(alone.kpis[key] - reference.kpis[key])


def test_one_command_compares_the_base_and_three_variants(tmp_path, separate):
    out = tmp_path / "comparison.json"
    done = subprocess.run(
        [sys.executable, "-m", "optimizer", "compare", str(BASE), *map(str, PATCHES),
         "-o", str(out), "--threads", "1", "--seed", "1", "--time-limit", "60", "--jobs", "2"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    comparison = json.loads(out.read_text())
    check(comparison, separate)
    # The printed table shows each variant's changes and price.
    for variant in comparison["variants"]:
        row = next(line for line in done.stdout.splitlines() if line.startswith(variant["name"]))
        assert f"{variant['diff']['moved']:,}" in row
        assert ("exact" in row) is variant["price"]["exact"]


def test_one_http_call_compares_the_base_and_three_variants(make_server, separate):
    server = make_server(max_concurrent_solves=2).start()
    body = {
        "base": json.loads(BASE.read_text()),
        "variants": [json.loads(p.read_text()) for p in PATCHES],
    }
    with server.client(timeout=600) as client:
        answer = client.post(
            "/v1/compare", params={"threads": 1, "seed": 1, "time_limit_s": 60}, json=body
        )
        assert answer.status_code == 200, answer.text
        check(answer.json(), separate)

        invalid = client.post("/v1/compare", json={"base": {"kind": "loans"}, "variants": [{}]})
        assert invalid.status_code == 422
        assert all(i["path"].startswith("base") for i in invalid.json()["issues"])
        empty = client.post("/v1/compare", json={"base": body["base"], "variants": []})
        assert empty.status_code == 422
        assert [i["path"] for i in empty.json()["issues"]] == ["variants"]
