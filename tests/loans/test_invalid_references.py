"""Every cross-reference of a loans document points at the exact field, and suggests."""

from __future__ import annotations

from optimizer.core.documents import parse_document

LIBRARIES = [{"id": "cqu-lib"}, {"id": "xju-lib"}, {"id": "chongqing-central"}]


def test_each_unknown_library_is_reported_where_it_is_named():
    doc = {
        "kind": "loans",
        "horizon": {"start": "2026-12-01", "end": "2026-12-31"},
        "libraries": LIBRARIES,
        "copies": [
            {"id": "c1", "library": "cqu-lib", "title": "t"},
            {"id": "c2", "library": "chongqing-centrl", "title": "t"},
        ],
        "requests": [
            {"id": "q1", "library": "xju-lib", "titles": ["t"], "needed_by": "2026-12-10"},
            {"id": "q2", "library": "lzu-lib", "titles": ["t"], "needed_by": "2026-12-10"},
        ],
        "shipping": [
            {"from": "cqu-lib", "to": "xju-lib", "days": 2, "cost": 1},
            {"from": "pku-lib", "to": "cqu-lib", "days": 2, "cost": 1},
            {"from": "cqu-lib", "to": "Chongqing-Central", "days": 2, "cost": 1},
        ],
    }
    issues = parse_document(doc).issues
    assert [(i.code, i.path) for i in issues] == [
        ("unknown_reference", "copies[1].library"),
        ("unknown_reference", "requests[1].library"),
        ("unknown_reference", "shipping[1].from"),
        ("unknown_reference", "shipping[2].to"),
    ]
    details = [i.detail for i in issues]
    assert details[0].endswith("did you mean 'chongqing-central'?")
    assert "'lzu-lib'" in details[1] and "did you mean" not in details[1]
    assert "'pku-lib'" in details[2]
    assert "'Chongqing-Central'" in details[3]
