"""The README's worked example is run, so it never rots."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FLOAT_TOLERANCE = 5.1e-4  # the excerpt shows four decimals


def _worked_example() -> tuple[list[str], str, dict[str, Any]]:
    section = README.split("## A worked example", 1)[1]
    command = re.search(r"```sh\n(.*?)\n```", section, re.S).group(1).strip()
    marker = re.search(r"<!-- readme-example: (\S+) -->\n```json\n(.*?)\n```", section, re.S)
    return command.split(), marker.group(1), json.loads(marker.group(2))


def _matches(expected: Any, actual: Any, where: str) -> list[str]:
    """Where ``actual`` fails to contain ``expected`` (dict keys and list items are subsets)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += _matches(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        if all(not isinstance(e, dict) for e in expected):
            return [] if expected == actual else [f"{where}: {actual!r} != {expected!r}"]
        problems = []
        for k, item in enumerate(expected):
            if not any(not _matches(item, candidate, where) for candidate in actual):
                problems.append(f"{where}[{k}]: no element matches {item!r}")
        return problems
    if isinstance(expected, float) and not isinstance(expected, bool):
        ok = isinstance(actual, int | float) and abs(actual - expected) <= FLOAT_TOLERANCE
        return [] if ok else [f"{where}: {actual!r} != {expected!r}"]
    if isinstance(expected, str) and "..." in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        ok = isinstance(actual, str) and re.fullmatch(pattern, actual, re.S) is not None
        return [] if ok else [f"{where}: {actual!r} does not match {expected!r}"]
    return [] if expected == actual else [f"{where}: {actual!r} != {expected!r}"]


def test_the_worked_example_produces_the_excerpt_shown(tmp_path):
    command, output_file, excerpt = _worked_example()
    assert command[0].endswith("unishare") and command[1] == "solve"
    out_index = command.index("-o") + 1
    output_dir = tmp_path / command[out_index]
    args = [*command[2:out_index], str(output_dir), *command[out_index + 1 :]]
    result = subprocess.run(
        [sys.executable, "-m", "optimizer", "solve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "optimal" in result.stdout  # the summary table
    written = json.loads((tmp_path / output_file).read_text(encoding="utf-8"))
    assert _matches(excerpt, written, "solution") == []


def test_the_excerpt_checker_can_fail():
    actual = {"status": "optimal", "objective": 10.2002, "pairs": [{"a": "x", "score": 1.0}]}
    assert _matches({"status": "feasible"}, actual, "s")
    assert _matches({"objective": 10.21}, actual, "s")
    assert _matches({"pairs": [{"a": "y"}]}, actual, "s")
    assert not _matches({"pairs": [{"a": "x", "score": 1.0002}]}, actual, "s")
