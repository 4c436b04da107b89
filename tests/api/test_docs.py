"""The curl examples of docs/http-api.md, run against a real server so they never rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.api.conftest import API_KEY, REPO_ROOT, Server

DOC = REPO_ROOT / "docs" / "http-api.md"


def examples_script() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert blocks, "the Examples section has a sh block"
    return "\n".join(blocks)


@pytest.mark.slow  # a real server
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_documented_examples_run(server: Server) -> None:
    script = "set -euo pipefail\n" + examples_script()
    env = {**os.environ, "URL": server.url, "KEY": API_KEY}
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"valid": true' in out
    assert "event: status" in out and '"status":"succeeded"' in out
    assert "unishare_jobs{" in out
    # The plan as CSV, and a template read back with its first issue placed in a cell.
    assert "status,request,title,institution,step," in out and "\nbooked," in out
    assert '"sheet": "document"' in out and '"column": "value"' in out
    for status in re.findall(r'"status": "(\w+)"', out):
        assert status not in ("invalid", "error"), out
