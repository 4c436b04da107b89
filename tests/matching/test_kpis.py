"""Per-region KPIs of a plan, checked against counts made by hand."""

from __future__ import annotations

from tests.matching.helpers import P, groups, matching, pair_set, solve_doc

INSTITUTIONS = [
    {"id": "cqu", "region": "Chongqing", "capacity": 2},
    {"id": "swu", "region": "Chongqing"},
    {"id": "scu", "region": "Sichuan"},
    {"id": "uestc", "region": "Sichuan"},
    {"id": "thu"},
]


def test_pairs_by_region_counts_matched_institutions_once_and_pairs_touching_the_region():
    # cqu pairs twice (capacity 2): with scu (0.8) and with thu (0.6); uestc-swu score nothing.
    doc = matching(INSTITUTIONS, {"cqu-scu": 0.8, "cqu-thu": 0.6})
    solution = solve_doc(doc)
    assert pair_set(solution) == {P("cqu", "scu"), P("cqu", "thu")}
    by_region = solution.kpis["by_region"]
    assert by_region["Chongqing"] == {
        "institutions": 2,
        "matched": 1,
        "share_matched": 0.5,
        "pairs_or_groups": 2,
        "mean_score": 0.7,
    }
    assert by_region["Sichuan"] == {
        "institutions": 2,
        "matched": 1,
        "share_matched": 0.5,
        "pairs_or_groups": 1,
        "mean_score": 0.8,
    }
    assert by_region["none"]["matched"] == 1
    assert solution.kpis["matched_institutions"] == 3


def test_groups_by_region_counts_groups_with_a_member_there():
    doc = groups(INSTITUTIONS, {"cqu-swu": 1.0, "scu-uestc": 0.5}, min_size=2, max_size=2)
    solution = solve_doc(doc)
    by_region = solution.kpis["by_region"]
    assert by_region["Chongqing"]["pairs_or_groups"] == 1
    assert by_region["Chongqing"]["mean_score"] == 1.0
    assert by_region["Sichuan"]["matched"] == 2
    assert by_region["none"] == {
        "institutions": 1,
        "matched": 0,
        "share_matched": 0.0,
        "pairs_or_groups": 0,
        "mean_score": 0.0,
    }
