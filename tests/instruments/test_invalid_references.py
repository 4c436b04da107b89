"""Every cross-reference of an instruments document points at the exact field, and suggests."""

from __future__ import annotations

from optimizer.core.documents import parse_document

from .helpers import at, base_document, request, step


def test_each_unknown_id_is_reported_where_it_is_named():
    doc = base_document(
        travel=[
            {"from": "site-a", "to": "site-b", "minutes": 60},
            {"from": "site-q", "to": "site-a", "minutes": 60},
            {"from": "site-a", "to": "campus-b", "minutes": 60},
        ],
        operators=[{"id": "op-1", "instruments": ["em-1", "nmr-l"]}],
        requests=[
            request("r0", step(["em-1"], 60)),
            request("r1", step(["em-1"], 60)),
            request("r2", step(["em-1"], 60)),
            request(
                "r3",
                step(["em-1", "nmr-9"], 60),
                step("nmrr", 60),
                pinned=[{"step": 0, "instrument": "em-1 ", "start": at(60)}],
            ),
        ],
        quotas=[{"institution": "scu", "instrument_type": "cryo-em", "max_minutes": 60}],
    )
    doc["instruments"][2]["site"] = "site-c"
    issues = parse_document(doc).issues
    assert sorted((i.code, i.path) for i in issues) == sorted(
        [
            ("unknown_reference", "travel[1].from"),
            ("unknown_reference", "travel[2].to"),
            ("unknown_reference", "instruments[2].site"),
            ("unknown_reference", "operators[0].instruments[1]"),
            ("unknown_reference", "requests[3].steps[0].instruments[1]"),
            ("unknown_reference", "requests[3].steps[1].instrument_type"),
            ("unknown_reference", "requests[3].pinned[0].instrument"),
            ("unknown_reference", "quotas[0].instrument_type"),
        ]
    )
    details = {i.path: i.detail for i in issues}
    assert details["operators[0].instruments[1]"].endswith("did you mean 'nmr-1'?")
    assert details["requests[3].steps[1].instrument_type"].endswith("did you mean 'nmr'?")
    assert details["requests[3].pinned[0].instrument"].endswith("did you mean 'em-1'?")
    assert "'nmr-9'" in details["requests[3].steps[0].instruments[1]"]
    assert "'cryo-em'" in details["quotas[0].instrument_type"]
