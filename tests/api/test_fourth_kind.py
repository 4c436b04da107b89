"""A fourth kind, registered only here, works through the CLI and the HTTP service.

The toys kind (``tests/toykind``) is named in ``UNISHARE_EXTRA_KINDS`` and appears nowhere
else: every command and route below must find its schema, model, verifier and hooks through
the registry alone.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import REPO_ROOT
from tests.test_cli import run_process

pytestmark = pytest.mark.slow

EXTRA_KINDS = "tests.toykind:KIND"
TOYS = [
    {"id": "kite", "value": 6, "size": 3},
    {"id": "yoyo", "value": 5, "size": 2},
    {"id": "drum", "value": 8, "size": 4},
    {"id": "ball", "value": 3, "size": 1},
    {"id": "robot", "value": 9, "size": 5},
]
DOCUMENT = {"kind": "toys", "name": "toybox", "box": 7, "toys": TOYS}


def best_by_brute_force(toys: list[dict[str, Any]], box: int) -> float:
    """The oracle: every subset of the toys."""
    return max(
        sum(t["value"] for t in subset)
        for k in range(len(toys) + 1)
        for subset in itertools.combinations(toys, k)
        if sum(t["size"] for t in subset) <= box
    )


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a real process that knows the toys kind, and only through the variable."""
    extra = {"PYTHONPATH": str(REPO_ROOT), "UNISHARE_EXTRA_KINDS": EXTRA_KINDS}
    return run_process(*args, cwd=cwd, env=extra)


def test_the_cli_validates_solves_shows_and_describes_a_fourth_kind(tmp_path):
    source = tmp_path / "toybox.json"
    source.write_text(json.dumps(DOCUMENT))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**DOCUMENT, "toys": [{**TOYS[0], "size": 0}]}))

    assert cli("validate", str(source), cwd=tmp_path).returncode == 0
    refused = cli("validate", str(broken), cwd=tmp_path)
    assert refused.returncode == 2
    assert "toys[0].size" in refused.stdout + refused.stderr

    solved = cli("solve", str(source), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert solved.returncode == 0, solved.stderr
    solution = json.loads((tmp_path / "out" / "toybox.solution.json").read_text())
    assert solution["kind"] == "toys" and solution["status"] == "optimal"
    assert solution["verification"]["valid"]
    assert solution["objective"] == best_by_brute_force(TOYS, 7)
    chosen = solution["solution"]["chosen"]
    assert solution["kpis"]["toys_chosen"] == len(chosen)  # the KPI hook
    left_out = {e["subject"] for e in solution["explanations"] if e["code"] == "left_out"}
    assert left_out == {t["id"] for t in TOYS} - set(chosen)  # the explanation hook

    shown = cli(
        "show",
        str(tmp_path / "out" / "toybox.solution.json"),
        "-i",
        str(source),
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert {f"toy:{t}" for t in chosen} <= set(shown.stdout.split())  # the render hook

    # The table hook gives the CSV; a workbook comes from the schema alone.
    exported = cli("export", str(tmp_path / "out" / "toybox.solution.json"), "-i", str(source),
                   "-o", "-", "--format", "csv", cwd=tmp_path)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0] == "status,toy,value" and len(lines) == 1 + len(chosen)
    assert (
        cli("template", "toys", "-i", str(source), "-o", "toys.xlsx", cwd=tmp_path).returncode == 0
    )
    back = cli("import", "toys.xlsx", "-o", "back.json", cwd=tmp_path)
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads((tmp_path / "back.json").read_text())["toys"] == TOYS

    schema = cli("schema", "toys", cwd=tmp_path)
    assert schema.returncode == 0, schema.stderr
    assert "box" in json.loads(schema.stdout)["properties"]


def test_the_http_service_lists_solves_and_runs_jobs_of_a_fourth_kind(make_server):
    from tests.api.conftest import wait_finished

    server = make_server(extra_kinds=EXTRA_KINDS).start()
    with server.client() as client:
        kinds = client.get("/v1/kinds").json()
        assert "toys" in {k["kind"] for k in kinds}

        answer = client.post("/v1/solve", content=json.dumps(DOCUMENT))
        assert answer.status_code == 200, answer.text
        solved = answer.json()
        assert solved["status"] == "optimal" and solved["verification"]["valid"]
        assert solved["objective"] == best_by_brute_force(TOYS, 7)
        assert solved["kpis"]["toys_chosen"] == len(solved["solution"]["chosen"])

        bad = client.post("/v1/validate", content=json.dumps({**DOCUMENT, "box": -1}))
        assert bad.status_code == 200 and bad.json()["valid"] is False
        assert [i["path"] for i in bad.json()["issues"]] == ["box"]

        job = client.post("/v1/jobs", content=json.dumps(DOCUMENT))
        assert job.status_code == 202, job.text
        finished = wait_finished(client, job.json()["id"])
        assert finished["status"] == "succeeded"
        solution = client.get(f"/v1/jobs/{job.json()['id']}/solution").json()
        assert solution["objective"] == best_by_brute_force(TOYS, 7)
        rows = client.get(f"/v1/jobs/{job.json()['id']}/solution.csv")
        assert rows.status_code == 200 and rows.text.startswith("status,toy,value")
        assert client.get(f"/v1/jobs/{job.json()['id']}/solution.ics").status_code == 404
        template = client.get("/v1/kinds/toys/template.xlsx")
        assert template.status_code == 200
        report = client.post("/v1/import", params={"kind": "toys"}, content=template.content)
        assert report.json()["issues"][0]["sheet"] is not None
