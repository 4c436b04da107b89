"""Every cross-reference of a matching document points at the exact field, and suggests."""

from __future__ import annotations

from optimizer.core.documents import parse_document

INSTITUTIONS = [{"id": "cqu"}, {"id": "scu"}, {"id": "cryo-lab-1"}]


def test_each_unknown_institution_is_reported_where_it_is_named():
    doc = {
        "kind": "matching",
        "institutions": INSTITUTIONS,
        "scores": [
            {"a": "cqu", "b": "scu", "score": 1},
            {"a": "pku", "b": "cqu", "score": 1},
            {"a": "scu", "b": "thu", "score": 1},
        ],
        "rules": {
            "forbidden": [["cqu", "scu"], ["fdu", "cqu"]],
            "required": [["cqu", "scu"], ["scu", "cqu"], ["cqu", "cryo-lab1"]],
        },
    }
    issues = parse_document(doc).issues
    assert [(i.code, i.path) for i in issues] == [
        ("unknown_reference", "scores[1].a"),
        ("unknown_reference", "scores[2].b"),
        ("unknown_reference", "rules.forbidden[1][0]"),
        ("unknown_reference", "rules.required[2][1]"),
    ]
    details = [i.detail for i in issues]
    assert "'pku'" in details[0] and "did you mean" not in details[0]
    assert details[3] == "institution 'cryo-lab1' is not defined; did you mean 'cryo-lab-1'?"
