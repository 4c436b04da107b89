"""JSPLIB job-shop instances as ``instruments`` instances with objective ``min_makespan``.

Each job becomes a request whose steps run in order, step k on instrument ``m<machine>``
for ``duration`` minutes, all at one site; the optimal makespan in minutes is the known one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from optimizer.instruments.schema import InstrumentsInstance

EPOCH = datetime.fromisoformat("2026-01-05T00:00:00+00:00")


def parse_jsplib(text: str) -> list[list[tuple[int, int]]]:
    """Jobs as lists of (machine, duration), from the JSPLIB text format."""
    rows = [
        line.split()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    n_jobs, n_machines = int(rows[0][0]), int(rows[0][1])
    jobs = []
    for row in rows[1 : 1 + n_jobs]:
        values = [int(x) for x in row]
        ops = list(zip(values[0::2], values[1::2], strict=True))
        if any(not 0 <= m < n_machines for m, _ in ops):
            raise ValueError(f"a machine number is outside 0..{n_machines - 1}")
        jobs.append(ops)
    if len(jobs) != n_jobs:
        raise ValueError(f"expected {n_jobs} jobs, found {len(jobs)}")
    return jobs


def jsplib_document(text: str, name: str) -> dict[str, Any]:
    """The instance document of a JSPLIB job shop (horizon: the sum of all durations)."""
    jobs = parse_jsplib(text)
    machines = sorted({m for job in jobs for m, _ in job})
    total = sum(d for job in jobs for _, d in job)
    return {
        "kind": "instruments",
        "name": name,
        "objective": "min_makespan",
        "horizon": {
            "start": EPOCH.isoformat(),
            "end": (EPOCH + timedelta(minutes=total)).isoformat(),
        },
        "sites": [{"id": "shop", "institution": "jsplib"}],
        "instruments": [{"id": f"m{m}", "type": f"machine-{m}", "site": "shop"} for m in machines],
        "requests": [
            {
                "id": f"job{j}",
                "institution": "jsplib",
                "steps": [{"instruments": [f"m{m}"], "duration_minutes": d} for m, d in job],
            }
            for j, job in enumerate(jobs)
        ],
    }


def load_jsplib(path: str | Path) -> InstrumentsInstance:
    path = Path(path)
    return InstrumentsInstance.model_validate(jsplib_document(path.read_text(), path.stem))
