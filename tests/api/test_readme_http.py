"""The README's HTTP examples, run against a real server so they never rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.api.conftest import API_KEY, REPO_ROOT, Server


def readme_http_script() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Over HTTP", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)[0]


@pytest.mark.slow  # a real server
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_readme_http_examples_run(server: Server) -> None:
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + readme_http_script()],
        cwd=REPO_ROOT,
        env={**os.environ, "URL": server.url, "KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"status":"optimal"' in out  # the synchronous solve
    assert '"valid":true' in out
    assert "event: status" in out and '"status":"succeeded"' in out
    assert '"issues":[' not in out.replace('"issues":[]', "")
