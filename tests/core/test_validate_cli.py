"""`unishare validate` says where every issue is."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from optimizer.cli import app
from optimizer.core.documents import parse_document
from tests.instruments.helpers import base_document, request, step

DATA = Path(__file__).resolve().parents[1] / "data" / "invalid"


def run_validate(*paths: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *map(str, paths)], terminal_width=400)
    return result.exit_code, result.output


def test_every_issue_line_names_its_path(tmp_path):
    """Regression: an unknown id printed what ("instrument 'nmr-9' is not defined"), not
    where it was named."""
    doc = base_document(
        requests=[request("r0", step(["em-1"], 60)), request("r1", step(["em-1", "nmr-9"], 60))]
    )
    (tmp_path / "week.json").write_text(json.dumps(doc))
    code, output = run_validate(tmp_path / "week.json")
    assert code == 2
    assert (
        "unknown_reference requests[1].steps[0].instruments[1]: instrument 'nmr-9' is not defined"
        in output
    )


def test_every_invalid_file_shows_every_path():
    files = sorted(DATA.glob("*.json"))
    code, output = run_validate(*files)
    assert code == 2
    lines = output.splitlines()
    for path in files:
        parsed = parse_document(path.read_bytes(), default_name=path.stem)
        start = next(k for k, line in enumerate(lines) if str(path) in line)
        shown = lines[start + 1 : start + 1 + len(parsed.issues)]
        for issue, line in zip(parsed.issues, shown, strict=True):
            assert line.split()[0] == issue.code
            assert f" {issue.path or 'document'}" in line, (path.name, line)


def test_a_suggestion_is_printed():
    code, output = run_validate(DATA / "matching-unknown-institution-field.json")
    assert code == 2
    assert "institutions[1].capasity is not a known field; did you mean 'capacity'?" in output
