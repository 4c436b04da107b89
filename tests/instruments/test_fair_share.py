"""Fair-share KPIs (contract 6.8): decayed minutes, shares and shortfalls, computed by hand.

Fair share is reported, not optimised: the plan and objective of an instance with targets
and history are those of the same instance without them.
"""

from __future__ import annotations

import pytest

from .helpers import base_document, request, solve, step

TARGETS = [
    {"institution": "scu", "instrument_type": "em", "target": 0.3},
    {"institution": "cqu", "instrument_type": "em", "target": 0.5},
    {"institution": "xju", "instrument_type": "nmr", "target": 0.2},
]
HISTORY = [
    {"institution": "scu", "instrument_type": "em", "weeks_ago": 2, "minutes": 600},
    {"institution": "cqu", "instrument_type": "em", "weeks_ago": 4, "minutes": 400},
    {"institution": "cqu", "instrument_type": "em", "weeks_ago": 8, "minutes": 400},
]


def shared_week(**fields) -> dict:
    return base_document(
        requests=[
            request("r1", step(["em-1"], 300), institution="scu"),
            request("r2", step(["em-2"], 120), institution="cqu"),
            request("r3", step(["nmr-1"], 90), institution="cqu"),
        ],
        **fields,
    )


def test_decayed_shares_and_shortfalls_match_the_contract():
    result = solve(
        shared_week(fair_share=TARGETS, usage_history=HISTORY, history_half_life_weeks=4)
    )
    assert result.verification.valid
    em = result.kpis["fair_share"]["em"]
    # scu: 300 booked + 600 * 0.5^(2/4); cqu: 120 + 400 * 0.5 + 400 * 0.25.
    scu, cqu = 300 + 600 * 2**-0.5, 120 + 200 + 100
    total = scu + cqu
    assert em["scu"]["booked_minutes"] == 300
    assert em["scu"]["decayed_minutes"] == pytest.approx(scu, abs=0.05)
    assert em["cqu"]["decayed_minutes"] == pytest.approx(cqu, abs=0.05)
    assert em["scu"]["share"] == pytest.approx(scu / total, abs=1e-4)
    assert em["scu"]["shortfall_minutes"] == 0.0  # above its 0.3
    assert em["cqu"]["shortfall_minutes"] == pytest.approx(0.5 * total - cqu, abs=0.05)
    nmr = result.kpis["fair_share"]["nmr"]
    # xju has a target and nothing booked: listed, with the whole target short.
    assert nmr["xju"] == {
        "booked_minutes": 0,
        "decayed_minutes": 0.0,
        "share": 0.0,
        "target": 0.2,
        "shortfall_minutes": pytest.approx(0.2 * 90, abs=0.05),
    }
    assert nmr["cqu"]["target"] is None and nmr["cqu"]["shortfall_minutes"] is None


def test_fair_share_is_reported_not_optimised():
    plain = solve(shared_week())
    shared = solve(shared_week(fair_share=TARGETS, usage_history=HISTORY))
    assert shared.objective == plain.objective
    assert shared.solution == plain.solution
    assert "fair_share" not in plain.kpis
