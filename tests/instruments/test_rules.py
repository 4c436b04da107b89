"""One test per hard rule of contract section 4: a feasible instance, then a variant that
breaks only that rule. Mandatory requests turn a broken rule into ``infeasible``; the
verifier is the judge of every schedule returned."""

from __future__ import annotations

import pytest

from optimizer.core.envelope import Status

from .helpers import at, base_document, request, solve, step


def assert_feasible(doc):
    result = solve(doc)
    assert result.status == Status.OPTIMAL, (result.status, result.explanations)
    assert result.verification.valid, result.verification.violations
    assert result.solution["unscheduled"] == []
    return result


def assert_infeasible(doc, *codes):
    result = solve(doc)
    assert result.status == Status.INFEASIBLE, (result.status, result.solution)
    assert result.explanations, "an infeasible instance must say why"
    if codes:
        assert {e.code for e in result.explanations} & set(codes), result.explanations
    return result


def test_availability_window_must_hold_the_whole_step():
    def doc(hours):
        d = base_document(
            requests=[request("r1", step(["em-1"], 300), mandatory=True)],
        )
        d["instruments"][0]["availability"] = [
            {"start": at(0), "end": at(60 * hours)},
            {"start": at(600), "end": at(780)},
        ]
        return d

    assert_feasible(doc(5))
    assert_infeasible(doc(4), "no_window")


def test_maintenance_splits_the_free_time():
    def doc(maintenance_start):
        d = base_document(requests=[request("r1", step(["em-1"], 600), mandatory=True)])
        d["instruments"][0]["maintenance"] = [
            {"start": at(maintenance_start), "end": at(maintenance_start + 300)}
        ]
        return d

    result = assert_feasible(doc(600))  # 600 free minutes before maintenance: just fits
    assert result.solution["bookings"][0]["end"] == at(600)
    assert_infeasible(doc(599), "no_window")  # neither side of maintenance holds 600 min now


def test_release_and_deadline_bound_the_request():
    def doc(deadline):
        return base_document(
            requests=[
                request(
                    "r1",
                    step(["em-1"], 120),
                    mandatory=True,
                    release=at(100),
                    deadline=at(deadline),
                )
            ]
        )

    result = assert_feasible(doc(220))
    assert result.solution["bookings"][0]["start"] == at(100)
    assert_infeasible(doc(219), "no_window")


def test_one_instrument_holds_one_booking_at_a_time():
    def doc(minutes):
        return base_document(
            requests=[
                request("r1", step(["em-1"], minutes), mandatory=True),
                request("r2", step(["em-1"], minutes), mandatory=True),
            ]
        )

    assert_feasible(doc(720))
    assert_infeasible(doc(721), "conflicting_mandatory")


def test_changeover_separates_bookings_of_different_requests():
    def doc(changeover):
        d = base_document(
            requests=[
                request("r1", step(["em-1"], 700), mandatory=True),
                request("r2", step(["em-1"], 700), mandatory=True),
            ]
        )
        d["instruments"][0]["changeover_minutes"] = changeover
        return d

    assert_feasible(doc(40))
    assert_infeasible(doc(41), "conflicting_mandatory")


def test_operator_must_be_available_for_the_whole_step():
    def doc(hours):
        d = base_document(
            requests=[request("r1", step(["em-1"], 300, operator_required=True), mandatory=True)]
        )
        d["operators"][0]["availability"] = [{"start": at(60), "end": at(60 + 60 * hours)}]
        return d

    result = assert_feasible(doc(5))
    assert result.solution["bookings"][0]["operator"] == "op-1"
    assert_infeasible(doc(4), "no_operator")


def test_operator_does_one_step_at_a_time():
    def doc(operators):
        d = base_document(
            requests=[
                request("r1", step(["em-1"], 800, operator_required=True), mandatory=True),
                request("r2", step(["em-2"], 800, operator_required=True), mandatory=True),
            ]
        )
        d["operators"] = [{"id": f"op-{k}", "instruments": ["em-1", "em-2"]} for k in operators]
        return d

    result = assert_feasible(doc([1, 2]))
    assert {b["operator"] for b in result.solution["bookings"]} == {"op-1", "op-2"}
    assert_infeasible(doc([1]), "conflicting_mandatory")


def test_operator_must_be_qualified():
    def doc(qualified):
        d = base_document(
            requests=[request("r1", step(["nmr-1"], 60, operator_required=True), mandatory=True)]
        )
        d["operators"][0]["instruments"] = qualified
        return d

    assert_feasible(doc(["nmr-1"]))
    assert_infeasible(doc(["em-1"]), "no_operator")


def test_steps_run_in_order_with_travel_between_sites():
    def doc(window):
        return base_document(
            requests=[
                request(
                    "r1",
                    step(["em-1"], 100),
                    step(["nmr-1"], 100),
                    mandatory=True,
                    release=at(0),
                    deadline=at(window),
                )
            ]
        )

    result = assert_feasible(doc(260))  # 100 + 60 min travel + 100
    bookings = sorted(result.solution["bookings"], key=lambda b: b["step"])
    assert bookings[1]["start"] == at(160)
    assert_infeasible(doc(259), "does_not_fit_in_order")


def test_travel_is_symmetric_unless_both_directions_are_given():
    def doc(travel):
        return base_document(
            travel=travel,
            requests=[
                request(
                    "r1",
                    step(["nmr-1"], 100),
                    step(["em-1"], 100),
                    mandatory=True,
                    deadline=at(260),
                )
            ],
        )

    assert_feasible(doc([{"from": "site-a", "to": "site-b", "minutes": 60}]))
    both = [
        {"from": "site-a", "to": "site-b", "minutes": 10},
        {"from": "site-b", "to": "site-a", "minutes": 61},
    ]
    assert_infeasible(doc(both), "does_not_fit_in_order")


def test_pinned_steps_are_booked_exactly_as_pinned():
    def doc(second_start):
        return base_document(
            requests=[
                request(
                    "r1",
                    step(["em-1"], 120),
                    pinned=[{"step": 0, "instrument": "em-1", "start": at(60)}],
                    mandatory=True,
                ),
                request(
                    "r2",
                    step("em", 120),
                    pinned=[{"step": 0, "instrument": "em-1", "start": at(second_start)}],
                    mandatory=True,
                ),
            ]
        )

    result = assert_feasible(doc(180))
    starts = {b["request"]: b["start"] for b in result.solution["bookings"]}
    assert starts == {"r1": at(60), "r2": at(180)}
    bad = assert_infeasible(doc(179), "conflicting_pin")
    assert {e.subject for e in bad.explanations} == {"r1", "r2"}


@pytest.mark.parametrize("solver", ["auto", "cp-sat", "greedy"])
def test_pin_binds_only_a_served_request_regression_optional_pin_made_week_infeasible(solver):
    """Regression: a pinned request that is not mandatory was treated as must-serve, so a
    day of maintenance over its pinned slot made the whole instance infeasible. A pin fixes
    where and when a step runs *if* the request is served (contract 6.2 rule 7)."""
    d = base_document(
        requests=[
            request(
                "pinned",
                step(["em-1"], 120),
                weight=5.0,
                pinned=[{"step": 0, "instrument": "em-1", "start": at(60)}],
            ),
            request("other", step(["em-1"], 120)),
            request("clash", step(["em-2"], 60), weight=2.0,
                    pinned=[{"step": 0, "instrument": "em-2", "start": at(300)}]),
            request("rival", step(["em-2"], 60), weight=3.0,
                    pinned=[{"step": 0, "instrument": "em-2", "start": at(330)}]),
        ]
    )  # fmt: skip
    d["instruments"][0]["maintenance"] = [{"start": at(0), "end": at(600)}]
    result = solve(d, solver=solver)
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE), result.explanations
    assert result.verification.valid, result.verification.violations
    assert sorted(result.solution["unscheduled"]) == ["clash", "pinned"] or solver == "greedy"
    assert "pinned" in result.solution["unscheduled"]
    why = {e.subject: e for e in result.explanations}["pinned"]
    assert why.code == "pin_in_maintenance"
    assert "maintenance of em-1 from 2026-12-01 08:00 to 2026-12-01 18:00" in why.detail

    # Mandatory and pinned into maintenance: infeasible, and the conflict is named.
    d["requests"][0]["mandatory"] = True
    bad = solve(d, solver=solver)
    assert bad.status in (Status.INFEASIBLE, Status.NO_SOLUTION)
    (why,) = bad.explanations
    assert why.subject == "pinned" and why.code == "pin_in_maintenance"
    assert "mandatory" in why.detail and "maintenance of em-1" in why.detail


def test_quota_caps_minutes_per_institution_and_type():
    def doc(quota):
        return base_document(
            requests=[
                request("r1", step("em", 200), mandatory=True),
                request("r2", step("em", 100), mandatory=True),
                request("r3", step("em", 500), institution="cqu", mandatory=True),
            ],
            quotas=[{"institution": "scu", "instrument_type": "em", "max_minutes": quota}],
        )

    assert_feasible(doc(300))
    assert_infeasible(doc(299), "conflicting_mandatory")


def test_quota_too_small_for_one_step_is_explained():
    d = base_document(
        requests=[request("r1", step("em", 200))],
        quotas=[{"institution": "scu", "instrument_type": "em", "max_minutes": 199}],
    )
    result = solve(d)
    assert result.status == Status.OPTIMAL
    assert result.solution["unscheduled"] == ["r1"]
    assert [e.code for e in result.explanations] == ["quota_too_small"]


def test_optional_requests_are_dropped_by_weight_and_explained():
    d = base_document(
        requests=[
            request("light", step(["em-1"], 800), weight=1.0),
            request("heavy", step(["em-1"], 800), weight=2.5),
        ]
    )
    result = solve(d)
    assert result.status == Status.OPTIMAL
    assert result.objective == 2.5
    assert result.solution["unscheduled"] == ["light"]
    (why,) = result.explanations
    assert why.code == "displaced" and why.related == ["heavy"]


@pytest.mark.parametrize("objective", ["min_makespan", "min_weighted_tardiness"])
def test_minimising_objectives_serve_every_request(objective):
    d = base_document(
        objective=objective,
        requests=[
            request("r1", step(["em-1"], 800), due=at(800)),
            request("r2", step(["em-1"], 800), due=at(800)),
        ],
    )
    result = solve(d)
    assert result.status == Status.INFEASIBLE
    d["requests"][1]["steps"][0]["duration_minutes"] = 600
    result = solve(d)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid
    expected = {"min_makespan": 1400.0, "min_weighted_tardiness": 600.0}[objective]
    assert result.objective == expected


def test_changeover_is_not_charged_between_steps_of_one_request():
    # Two steps of one request back to back on one instrument need no changeover: the model
    # is exact there (tests/instruments/test_changeover.py), so it proves the optimum, and
    # the verifier accepts a schedule without the gap.
    d = base_document(requests=[request("r1", step(["em-1"], 60), step(["em-1"], 60))])
    d["instruments"][0]["changeover_minutes"] = 30
    result = solve(d)
    assert result.status == Status.OPTIMAL
    assert result.verification.valid
    from optimizer.instruments.schema import InstrumentsInstance
    from optimizer.instruments.verify import verify

    tight = {
        "bookings": [
            {"request": "r1", "step": k, "instrument": "em-1", "operator": None,
             "start": at(60 * k), "end": at(60 * k + 60)}
            for k in range(2)
        ],
        "unscheduled": [],
    }  # fmt: skip
    assert verify(InstrumentsInstance.model_validate(d), tight).valid
