"""Reasons for unscheduled requests name the constraint that binds them (issue #18).

Each instance is small enough that the binding constraint is known by construction: an
operator's ten-hour shift, maintenance, a deadline, an availability window, a spent quota or
budget. The reason must name it and its own window, never the whole horizon, and must say
when the plan is not proven optimal.
"""

from __future__ import annotations

from optimizer.core.documents import parse_document
from optimizer.core.envelope import Status
from optimizer.instruments import explain
from optimizer.instruments.timeline import Placed, build_timeline

from .helpers import at, base_document, request, solve, step


def reason_of(result, rid: str):
    found = [e for e in result.explanations if e.subject == rid]
    assert len(found) == 1, result.explanations
    return found[0]


def three_sessions(**doc_fields) -> dict:
    """Three four-hour sessions on em-1; weights make r3 the one to leave out."""
    fields = doc_fields.pop("fields", {})
    return base_document(
        requests=[
            request(rid, step(["em-1"], 240, **fields), weight=w)
            for rid, w in (("r1", 3.0), ("r2", 2.0), ("r3", 1.0))
        ],
        **doc_fields,
    )


def test_the_operator_shift_shorter_than_the_sessions_is_named_not_the_horizon():
    doc = three_sessions(fields={"operator_required": True})
    doc["operators"][0]["availability"] = [{"start": at(0), "end": at(600)}]
    result = solve(doc)
    assert result.status == Status.OPTIMAL and result.solution["unscheduled"] == ["r3"]
    why = reason_of(result, "r3")
    assert why.code == "displaced"
    assert "12-01 08:00 – 18:00" in why.detail
    assert "the end of the shift of op-1" in why.detail
    assert "12-02 08:00" not in why.detail  # the horizon's end is not the window
    assert {"r1", "r2"} <= set(why.related)
    assert "not proven" not in why.detail


def test_maintenance_that_closes_the_window_is_named():
    doc = three_sessions()
    doc["instruments"][0]["maintenance"] = [{"start": at(360), "end": at(1440)}]
    result = solve(doc)
    assert result.solution["unscheduled"] == ["r2", "r3"]
    why = reason_of(result, "r3")
    assert "12-01 08:00 – 14:00 (its release to maintenance of em-1 from 14:00)" in why.detail
    assert why.related == ["r1"]


def test_a_deadline_that_closes_the_window_is_named():
    doc = three_sessions()
    for req in doc["requests"]:
        req["deadline"] = at(300)
    result = solve(doc)
    # One session fits on em-1 before the deadline.
    assert result.solution["unscheduled"] == ["r2", "r3"]
    why = reason_of(result, "r3")
    assert "12-01 08:00 – 13:00 (its release to its deadline)" in why.detail
    assert why.related == ["r1"]


def test_an_availability_window_that_bounds_the_step_is_named():
    doc = three_sessions()
    doc["instruments"][0]["availability"] = [{"start": at(120), "end": at(600)}]
    result = solve(doc)
    assert result.solution["unscheduled"] == ["r3"]
    why = reason_of(result, "r3")
    assert "12-01 10:00 – 18:00 (within em-1's availability)" in why.detail


def test_a_spent_quota_names_the_requests_that_spent_it():
    doc = three_sessions(
        quotas=[{"institution": "scu", "instrument_type": "em", "max_minutes": 500}]
    )
    result = solve(doc)
    assert result.solution["unscheduled"] == ["r3"]
    why = reason_of(result, "r3")
    assert why.code == "quota_exhausted"
    assert "480 min of its 500 min quota on em" in why.detail
    assert why.related == ["r1", "r2"]


def test_a_spent_budget_names_the_requests_that_spent_it():
    # scu runs site-a: 240 min at the internal 30 per hour cost 120 each.
    doc = three_sessions(
        prices=[{"instrument_type": "em", "internal_per_hour": 30, "external_per_hour": 90}],
        budgets=[{"institution": "scu", "instrument_type": "em", "max_cost": 300}],
    )
    result = solve(doc)
    assert result.solution["unscheduled"] == ["r3"]
    why = reason_of(result, "r3")
    assert why.code == "budget_exhausted"
    assert "240.00 of its 300.00 budget on em" in why.detail
    assert "needs 120.00 more" in why.detail


def test_a_plan_not_proven_optimal_says_so_in_every_reason():
    doc = three_sessions(fields={"operator_required": True})
    doc["operators"][0]["availability"] = [{"start": at(0), "end": at(600)}]
    result = solve(doc, solver="greedy")
    assert result.status == Status.FEASIBLE and result.bound is None
    why = reason_of(result, "r3")
    assert why.detail.endswith("not proven: the solve stopped with no bound to compare")


def test_the_gap_is_quoted_when_there_is_a_bound():
    doc = three_sessions()
    tl = build_timeline(parse_document(doc).instance)
    kpis = {"served_weight": 5.0}
    note = explain.proof_note(tl, Status.FEASIBLE, kpis, 5.21)
    assert note == "not proven: the solve stopped at a 4.2 % gap"
    assert explain.proof_note(tl, Status.FEASIBLE, kpis, 5.0) is None
    assert explain.proof_note(tl, Status.OPTIMAL, kpis, None) is None


def test_a_request_that_fits_the_plan_as_it_stands_is_out_only_because_the_search_stopped():
    doc = three_sessions()
    tl = build_timeline(parse_document(doc).instance)
    placed = [Placed(0, 0, 0, None, 0, 240)]  # only r1; em-1 and em-2 have room
    reasons = explain.unscheduled(tl, placed, "not proven: the solve stopped at a 40.0 % gap")
    assert [e.code for e in reasons] == ["not_reached", "not_reached"]
    assert "em-1 at 12-01 12:00" in reasons[0].detail or "em-2 at 12-01 08:00" in reasons[0].detail
    assert reasons[0].detail.endswith("40.0 % gap")


def test_the_later_step_is_named_when_travel_and_the_deadline_close_it():
    # Step 0 on em-1 (site-a), step 1 on nmr-1 (site-b, an hour away) before the deadline.
    doc = base_document(
        requests=[
            request(
                rid,
                step(["em-1"], 60),
                step(["nmr-1"], 240),
                weight=w,
                deadline=at(420),
            )
            for rid, w in (("r1", 2.0), ("r2", 1.0))
        ]
    )
    result = solve(doc)
    assert result.solution["unscheduled"] == ["r2"]
    why = reason_of(result, "r2")
    assert "step 1" in why.detail
    assert "the end of step 0 plus travel to its deadline" in why.detail
    assert "nmr-1" in why.detail and why.related == ["r1"]


def test_a_shift_shorter_than_the_attended_step_is_named_with_its_length():
    doc = base_document(requests=[request("r1", step(["em-1"], 660, operator_required=True))])
    doc["operators"][0]["availability"] = [{"start": at(0), "end": at(600)}]
    (why,) = solve(doc).explanations
    assert why.code == "no_operator"
    assert "the longest shift there is op-1's 12-01 08:00 – 18:00 (600 min)" in why.detail


def test_an_availability_too_short_for_the_step_is_named_with_its_length():
    doc = base_document(requests=[request("r1", step(["em-1"], 180))])
    doc["instruments"][0]["availability"] = [
        {"start": at(0), "end": at(120)},
        {"start": at(600), "end": at(750)},
    ]
    (why,) = solve(doc).explanations
    assert why.code == "no_window"
    assert "the longest window there is em-1's 12-01 18:00 – 20:30 (150 min)" in why.detail


def test_the_contract_example_gives_the_reason_the_contract_shows():
    """Contract 6.5: r3 is out because op-li's shift and its deadline leave it 08:00-14:00,
    which r1 and r2 hold. The documented reason is the one produced."""
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()
    example = text[text.index("### 6.5 Example") :]
    instance_json, solution_json = re.findall(r"```json\n(.*?)```", example, re.S)[:2]
    shown = json.loads(solution_json)["explanations"]
    result = solve(json.loads(instance_json))
    assert [e.model_dump() for e in result.explanations] == [
        {"subject": e["subject"], "code": e["code"], "detail": e["detail"], "related": e["related"]}
        for e in shown
    ]


def test_an_attended_session_is_bounded_by_its_attended_part_not_its_whole_length():
    """Twelve-hour collections attended for their first hour: the ten-hour shift bounds
    their starts, so the window runs until 05:00 the next morning (contract 6.7)."""
    doc = three_sessions(fields={"operator_required": True, "attended_minutes": 60})
    for req in doc["requests"]:
        req["steps"][0]["duration_minutes"] = 720
    doc["operators"][0]["availability"] = [{"start": at(0), "end": at(600)}]
    result = solve(doc)
    assert result.status == Status.OPTIMAL and result.solution["unscheduled"] == ["r2", "r3"]
    why = reason_of(result, "r3")
    assert why.code == "displaced"
    assert "12-01 08:00 – 12-02 05:00" in why.detail
    assert "the end of the shift of op-1" in why.detail
    assert why.related == ["r1"]


def test_every_job_that_fills_a_parallel_instrument_is_named():
    doc = three_sessions()
    doc["instruments"][0]["capacity"] = 2
    for req in doc["requests"]:
        req["deadline"] = at(300)
    result = solve(doc)
    assert result.solution["unscheduled"] == ["r3"]
    why = reason_of(result, "r3")
    assert set(why.related) == {"r1", "r2"}
