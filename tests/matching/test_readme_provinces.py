"""The README's per-province table is what the two east-west plans give, so it never rots."""

from __future__ import annotations

import re
from pathlib import Path

from optimizer.core.documents import solve_document
from optimizer.core.envelope import Status

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_per_province_table_matches_the_plans():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = re.search(r"<!-- readme-provinces: (\S+) (\S+) -->\n((?:\|.*\n)+)", readme)
    assert marker is not None
    plans = []
    for name in marker.group(1, 2):
        path = ROOT / "instances" / "matching" / f"{name}.json"
        solution = solve_document(path.read_bytes(), default_name=name)
        assert solution.status == Status.OPTIMAL
        plans.append(solution.kpis["by_region"])
    rows = [line.strip("|").split("|") for line in marker.group(3).splitlines()[2:]]
    assert len(rows) == 12
    for province, universities, plain, fair in ([c.strip() for c in row] for row in rows):
        assert int(universities) == plans[0][province]["institutions"]
        assert int(plain) == plans[0][province]["matched"], province
        assert int(fair) == plans[1][province]["matched"], province
