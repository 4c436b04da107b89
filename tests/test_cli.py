"""The batch CLI of FORMATS section 6, in process (typer's CliRunner) and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optimizer.cli import app
from optimizer.core.envelope import Solution, Status
from tests.matching.helpers import TOL, brute_force_groups, brute_force_pairs

OPTIONS = {"time_limit_s": 10, "threads": 1}

PAIRS = {
    "kind": "matching",
    "name": "east-west",
    "options": OPTIONS,
    "institutions": [
        {"id": "cqu", "zone": "west", "capacity": 2},
        {"id": "xju", "zone": "west"},
        {"id": "zju", "zone": "east"},
        {"id": "sjtu", "zone": "east"},
    ],
    "scores": [
        {"a": "cqu", "b": "zju", "score": 0.8},
        {"a": "cqu", "b": "sjtu", "score": 0.7},
        {"a": "xju", "b": "zju", "score": 0.9},
        {"a": "xju", "b": "cqu", "score": 0.4},
    ],
    "rules": {"allowed_zone_pairs": [["west", "east"]]},
}
GROUPS = {
    "kind": "matching",
    "mode": "groups",
    "options": OPTIONS,
    "institutions": [{"id": f"cq{k}", "hub": k < 2} for k in range(6)],
    "scores": [
        {"a": f"cq{i}", "b": f"cq{j}", "score": ((3 * i + 5 * j) % 7) / 2}
        for i in range(6)
        for j in range(i + 1, 6)
    ],
    "group": {"min_size": 2, "max_size": 3, "min_hubs": 1},
}
BROKEN = '{"kind": "matching", "institutions": [{"id": "cqu", "capacity": -1}]}'


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    """A folder with two good instances (one in a subfolder), one invalid file, and an old
    solution document that must not be read as an instance."""
    folder = tmp_path / "instances"
    (folder / "chongqing").mkdir(parents=True)
    (folder / "east-west.json").write_text(json.dumps(PAIRS))
    (folder / "chongqing" / "alliance.json").write_text(json.dumps(GROUPS))
    (folder / "broken.json").write_text(BROKEN)
    (folder / "old.solution.json").write_text("{}")
    return folder


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, [str(a) for a in args])


def read_solutions(out: Path) -> dict[str, Solution]:
    return {
        p.name.removesuffix(".solution.json"): Solution.model_validate_json(p.read_text())
        for p in out.glob("*.solution.json")
    }


def assert_batch_results(solutions: dict[str, Solution]) -> None:
    assert set(solutions) == {"east-west", "alliance", "broken"}
    pairs, groups, broken = solutions["east-west"], solutions["alliance"], solutions["broken"]
    assert pairs.status == groups.status == Status.OPTIMAL
    assert pairs.objective == pytest.approx(brute_force_pairs(PAIRS)[0], abs=TOL)
    assert groups.objective == pytest.approx(brute_force_groups(GROUPS)[0], abs=TOL)
    assert pairs.name == "east-west" and groups.name == "alliance"  # the file stem
    assert pairs.verification.valid and groups.verification.valid
    assert broken.status == Status.INVALID
    assert [(i.code, i.path) for i in broken.issues] == [
        ("out_of_range", "institutions[0].capacity")
    ]


def test_solve_folder_with_one_bad_file(batch, tmp_path, monkeypatch):
    # Relative paths: the table folds a long path over two lines, and pytest's temporary
    # folders grow longer as their counter passes 100, which split "alliance.json".
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "solutions"
    result = invoke("solve", batch.relative_to(tmp_path), "-o", out)
    assert result.exit_code == 2, result.output
    assert_batch_results(read_solutions(out))
    for word in ("east-west.json", "alliance.json", "broken.json", "optimal", "invalid"):
        assert word in result.stdout
    for column in ("file", "kind", "status", "objective", "bound", "gap", "seconds"):
        assert column in result.stdout
    assert "institutions[0].capacity" in result.stderr


def test_jobs_give_the_same_results(batch, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert invoke("solve", batch, "-o", one).exit_code == 2
    assert invoke("solve", batch, "-o", two, "--jobs", "2").exit_code == 2
    first, second = read_solutions(one), read_solutions(two)
    assert_batch_results(second)
    for stem in first:
        a, b = first[stem], second[stem]
        assert (a.status, a.objective, a.solution, a.issues) == (
            b.status,
            b.objective,
            b.solution,
            b.issues,
        )
        assert a.run.instance_sha256 == b.run.instance_sha256


def test_all_good_files_exit_zero(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(PAIRS))
    result = invoke("solve", tmp_path / "a.json", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert read_solutions(tmp_path / "out")["a"].status == Status.OPTIMAL


def test_infeasible_is_a_result_not_a_failure(tmp_path):
    doc = {**PAIRS, "rules": {"required": [["xju", "sjtu"]]}}  # never scored
    (tmp_path / "x.json").write_text(json.dumps(doc))
    result = invoke("solve", tmp_path / "x.json", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    solution = read_solutions(tmp_path / "out")["x"]
    assert solution.status == Status.INFEASIBLE and solution.explanations


def test_solver_override_shows_in_the_run(batch, tmp_path):
    out = tmp_path / "out"
    result = invoke("solve", batch / "east-west.json", "-o", out, "--solver", "cbc", "--seed", "7")
    assert result.exit_code == 0, result.output
    solution = read_solutions(out)["east-west"]
    assert (solution.run.solver, solution.run.seed) == ("cbc", 7)
    assert solution.status == Status.OPTIMAL


@pytest.mark.parametrize(
    ("args", "path"),
    [(["--solver", "greedy"], "options.solver"), (["--time-limit", "0"], "options.time_limit_s")],
)
def test_bad_option_overrides_make_the_file_invalid(batch, tmp_path, args, path):
    out = tmp_path / "out"
    result = invoke("solve", batch / "east-west.json", "-o", out, *args)
    assert result.exit_code == 2
    solution = read_solutions(out)["east-west"]
    assert solution.status == Status.INVALID
    assert [i.path for i in solution.issues] == [path]


def test_missing_path_exits_2_and_the_rest_is_solved(batch, tmp_path):
    out = tmp_path / "out"
    result = invoke("solve", batch / "east-west.json", tmp_path / "nowhere.json", "-o", out)
    assert result.exit_code == 2
    assert "nowhere.json" in result.stderr
    assert read_solutions(out)["east-west"].status == Status.OPTIMAL


def test_folder_without_instances_exits_2(tmp_path):
    result = invoke("solve", tmp_path, "-o", tmp_path / "out")
    assert result.exit_code == 2


def test_internal_error_exits_1(batch, tmp_path, monkeypatch):
    import optimizer.core.documents as documents

    def failing(raw, **kwargs):
        return Solution(name=kwargs.get("default_name"), status=Status.ERROR)

    monkeypatch.setattr(documents, "solve_document", failing)
    result = invoke("solve", batch / "east-west.json", "-o", tmp_path / "out")
    assert result.exit_code == 1


def test_validate_exit_codes(batch):
    result = invoke("validate", batch / "east-west.json", batch / "chongqing")
    assert result.exit_code == 0, result.output
    result = invoke("validate", batch)
    assert result.exit_code == 2
    assert "broken.json" in result.stdout and "out_of_range" in result.stdout
    assert "institutions[0].capacity" in result.stdout
    assert invoke("validate", batch / "missing.json").exit_code == 2


def test_validate_writes_nothing(batch, tmp_path):
    before = sorted(p.name for p in batch.rglob("*"))
    invoke("validate", batch)
    assert sorted(p.name for p in batch.rglob("*")) == before


def test_schema_prints_the_json_schema():
    result = invoke("schema", "matching")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"kind", "mode", "institutions", "scores", "rules", "group", "options"} <= set(
        schema["properties"]
    )
    assert "institutions" in schema["required"]
    assert invoke("schema", "recipes").exit_code == 2


def run_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``unishare ARGS`` in a real process, with ``env`` added to this one's environment."""
    env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "optimizer", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_real_process_solves_a_folder(batch, tmp_path):
    out = tmp_path / "process-out"
    done = run_process("solve", str(batch), "-o", str(out), "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert_batch_results(read_solutions(out))
    assert "optimal" in done.stdout and "invalid" in done.stdout


def test_real_process_schema_stdout_is_pure_json(tmp_path):
    done = run_process("schema", "matching", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["properties"]["kind"]


def test_an_exception_in_one_file_does_not_stop_the_batch(batch, tmp_path, monkeypatch):
    """Regression: solve_file promised never to raise, but an exception on the document path
    escaped it and ended the whole batch; now that file gets an error document, exit 1."""
    import optimizer.core.documents as documents

    real = documents.parse_document

    def sometimes(raw, **kwargs):
        if kwargs.get("default_name") == "alliance":
            raise RuntimeError("boom")
        return real(raw, **kwargs)

    monkeypatch.setattr(documents, "parse_document", sometimes)
    out = tmp_path / "out"
    result = invoke("solve", batch / "east-west.json", batch / "chongqing", "-o", out)
    assert result.exit_code == 1
    solutions = read_solutions(out)
    assert solutions["east-west"].status == Status.OPTIMAL
    assert solutions["alliance"].status == Status.ERROR
    assert "RuntimeError: boom" in solutions["alliance"].explanations[0].detail


def test_inputs_sharing_a_stem_keep_both_solutions(tmp_path):
    """Regression: a/x.json and b/x.json both wrote x.solution.json, losing the first."""
    for folder, name in (("a", "pairs"), ("b", "groups")):
        (tmp_path / folder).mkdir()
        document = dict(PAIRS if folder == "a" else GROUPS, name=name)
        (tmp_path / folder / "x.json").write_text(json.dumps(document))
    out = tmp_path / "out"
    result = invoke("solve", tmp_path / "a", tmp_path / "b", "-o", out)
    assert result.exit_code == 0
    first = Solution.model_validate_json((out / "x.solution.json").read_text())
    second = Solution.model_validate_json((out / "x-2.solution.json").read_text())
    assert (first.name, second.name) == ("pairs", "groups")
    assert first.status == second.status == Status.OPTIMAL


INSTANCES = Path(__file__).resolve().parent.parent / "instances"
JSPLIB_DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "jsplib"


def test_jsplib_files_become_instances_the_solver_proves_optimal(tmp_path):
    """The converted job shops reach their published optimal makespans through the CLI."""
    optima = json.loads((JSPLIB_DATA / "optima.json").read_text())
    names = ["ft06", "la01"]
    result = invoke("jsplib", *[JSPLIB_DATA / f"{n}.txt" for n in names], "-o", tmp_path / "in")
    assert result.exit_code == 0, result.output
    result = invoke("solve", tmp_path / "in", "-o", tmp_path / "out", "--time-limit", "20")
    assert result.exit_code == 0, result.output
    solutions = read_solutions(tmp_path / "out")
    for name in names:
        assert solutions[name].status == Status.OPTIMAL
        assert solutions[name].objective == optima[name]["optimum"]


def test_jsplib_names_a_file_that_is_not_a_job_shop(tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("2 2\n0 3 1 2\n1 4 0 1\n")
    bad.write_text("2 2\n0 3 1 2\n")  # one job of two
    result = invoke("jsplib", good, bad, "-o", tmp_path / "in")
    assert result.exit_code == 2
    assert "bad.txt: not a JSPLIB job shop: expected 2 jobs, found 1" in result.output
    assert (tmp_path / "in" / "good.json").exists()
    assert not (tmp_path / "in" / "bad.json").exists()


def test_show_prints_each_instruments_agenda_in_time_order(tmp_path):
    example = INSTANCES / "instruments" / "small-two-days.json"
    invoke("solve", example, "-o", tmp_path, "--time-limit", "10")
    solution_path = tmp_path / "small-two-days.solution.json"
    solution = json.loads(solution_path.read_text())
    result = invoke("show", solution_path, "--instance", example)
    assert result.exit_code == 0, result.output
    text = result.output
    for booking in solution["solution"]["bookings"]:
        assert booking["request"] in text
    # Each instrument's bookings appear under its own heading, earliest first.
    for instrument in {b["instrument"] for b in solution["solution"]["bookings"]}:
        section = text.split(f"\n{instrument} ")[1].split("\n\n")[0]
        rows = [b for b in solution["solution"]["bookings"] if b["instrument"] == instrument]
        rows.sort(key=lambda b: b["start"])
        positions = [section.index(b["request"]) for b in rows]
        assert positions == sorted(positions)
    for rid in solution["solution"]["unscheduled"]:
        assert rid in text.split("\nwhy")[1]


@pytest.mark.parametrize("kind", ["matching", "loans"])
def test_show_prints_pairs_and_loans(kind, tmp_path):
    example = sorted((INSTANCES / kind).glob("*.json"))[0]
    invoke("solve", example, "-o", tmp_path, "--time-limit", "10")
    solution_path = next(tmp_path.glob("*.solution.json"))
    solution = json.loads(solution_path.read_text())
    result = invoke("show", solution_path)
    assert result.exit_code == 0, result.output
    body = solution["solution"]
    if kind == "loans":
        assert all(loan["copy"] in result.output for loan in body["loans"])
    else:
        members = [m for g in body.get("groups", []) for m in g["members"]]
        members += [p[x] for p in body.get("pairs", []) for x in ("a", "b")]
        assert members and all(m in result.output for m in members)


def test_show_refuses_a_document_that_is_not_a_solution(tmp_path):
    result = invoke("show", INSTANCES / "instruments" / "small-two-days.json")
    assert result.exit_code == 2
    assert "not a solution document" in result.output


def test_show_names_each_partner_and_counts_matched_institutions_per_region(tmp_path):
    """Regression: `show` ignored the instance for matching, so no names or regions appeared."""
    example = INSTANCES / "matching" / "east-west-counterparts.json"
    invoke("solve", example, "-o", tmp_path, "--time-limit", "10")
    solution = json.loads((tmp_path / "east-west-counterparts.solution.json").read_text())
    result = invoke(
        "show", tmp_path / "east-west-counterparts.solution.json", "--instance", example
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    institutions = {x["id"]: x for x in json.loads(example.read_text())["institutions"]}
    for pair in solution["solution"]["pairs"]:
        row = next(
            line
            for line in lines
            if line.startswith(f"{pair['a']} · ") and f"│ {pair['b']} · " in line
        )
        assert f"({institutions[pair['a']]['region']})" in row
        assert institutions[pair["b"]]["name"][:20] in row
    by_region = solution["kpis"]["by_region"]
    table = result.output.split("by region")[1].split("\n\n")[0]
    for region, figures in by_region.items():
        row = next(line for line in table.splitlines() if line.startswith(region))
        cells = [cell.strip() for cell in row.split("│")]
        assert cells[:3] == [region, str(figures["institutions"]), str(figures["matched"])]


def test_previous_makes_a_replan_and_another_kind_is_refused(tmp_path):
    example = INSTANCES / "matching" / "east-west-counterparts.json"
    first = tmp_path / "first"
    invoke("solve", example, "-o", first)
    previous = first / "east-west-counterparts.solution.json"
    again = tmp_path / "again"
    result = invoke("solve", example, "-o", again, "--previous", previous)
    assert result.exit_code == 0, result.output
    solution = read_solutions(again)["east-west-counterparts"]
    assert solution.changes is not None and solution.changes.changed == 0
    assert solution.changes.kept == len(solution.solution["pairs"])

    other = INSTANCES / "loans" / "six-libraries.json"
    refused = invoke("solve", other, "-o", tmp_path / "refused", "--previous", previous)
    assert refused.exit_code == 2
    solution = read_solutions(tmp_path / "refused")["six-libraries"]
    assert [(i.code, i.path) for i in solution.issues] == [("wrong_plan", "previous")]
