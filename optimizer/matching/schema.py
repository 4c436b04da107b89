"""Instance and solution documents of the ``matching`` kind (contract section 3)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from optimizer.core.envelope import InstanceBase
from optimizer.core.issues import Issue, IssueCollector
from optimizer.core.schema import FiniteFloat, Id, IdPair, Strict

InstitutionType = Literal["university", "research_institute", "enterprise", "government"]
UnitScore = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Location(Strict):
    lat: float = Field(ge=-90.0, le=90.0, allow_inf_nan=False)
    lon: float = Field(ge=-180.0, le=180.0, allow_inf_nan=False)


class Institution(Strict):
    id: Id
    name: str | None = None
    type: InstitutionType = "university"
    region: str | None = Field(None, description="Province or municipality, e.g. Chongqing.")
    zone: str | None = Field(None, description="Free label such as west or east.")
    location: Location | None = None
    strengths: dict[str, UnitScore] = Field(default_factory=dict)
    needs: dict[str, UnitScore] = Field(default_factory=dict)
    capacity: int = Field(1, ge=0, description="Most partners in pairs mode.")
    min_partners: int = Field(0, ge=0, description="Fewest partners in pairs mode.")
    hub: bool = False


class PairScore(Strict):
    a: Id
    b: Id
    score: FiniteFloat


class Weights(Strict):
    need: FiniteFloat = 1.0
    complementarity: FiniteFloat = 0.5
    distance_per_1000km: FiniteFloat = 0.2
    cross_zone_bonus: FiniteFloat = 0.0


class Rules(Strict):
    allowed_zone_pairs: list[tuple[str, str]] | None = None
    allowed_type_pairs: list[tuple[InstitutionType, InstitutionType]] | None = None
    same_region: bool = False
    max_distance_km: float | None = Field(None, ge=0.0, allow_inf_nan=False)
    min_score: FiniteFloat = 0.0
    forbidden: list[IdPair] = Field(default_factory=list)
    required: list[IdPair] = Field(default_factory=list)


class GroupRules(Strict):
    min_size: int = Field(2, ge=1)
    max_size: int = Field(4, ge=1)
    min_hubs: int = Field(0, ge=0)
    same_region: bool = False
    cover_all: bool = False


GroupingField = Literal["region", "zone", "type"]


class GroupMinimum(Strict):
    """Hard: the members of one group of institutions (one region, zone or type) get at
    least this much of the plan."""

    by: GroupingField = "region"
    group: str = Field(min_length=1, description="The region, zone or type named.")
    matched: int = Field(0, ge=0, description="Fewest members with a partner (or in a group).")
    share: float = Field(
        0.0, ge=0.0, le=1.0, allow_inf_nan=False, description="Fewest matched, as a share."
    )
    pairs: int = Field(0, ge=0, description="Fewest pairs (or groups) with a member there.")


class Fairness(Strict):
    """Fairness across groups of institutions (both modes): hard minimums, and what to
    maximise."""

    minimums: list[GroupMinimum] = Field(default_factory=list)
    objective: Literal["max_total", "max_min"] = "max_total"
    by: GroupingField = Field("region", description="The groups that max_min compares.")
    groups: list[str] | None = Field(
        None, description="max_min: only these groups (default: every value of `by`)."
    )
    measure: Literal["share", "score"] = Field(
        "share", description="max_min: matched share, or score per member, of a group."
    )

    @property
    def active(self) -> bool:
        return bool(self.minimums) or self.objective != "max_total"


MAX_PERIODS = 100


class Periods(Strict):
    """Pairs mode over several periods (years) in one solve (contract 5.4.4)."""

    # A programme of counterparts runs for years, not centuries; the bound keeps a document
    # from asking for a model of a billion periods.
    count: int = Field(ge=1, le=MAX_PERIODS, description="Number of periods, numbered 1 to count.")
    capacity: dict[Id, list[Annotated[int, Field(ge=0)]]] = Field(
        default_factory=dict,
        description="Per-period capacity overrides: institution id -> one capacity per period.",
    )
    rule: Literal["new_partner", "keep"] = Field(
        "new_partner",
        description=(
            "new_partner: no pair is selected in two periods; keep: a pair once formed stays "
            "for keep_at_least consecutive periods (or until the last)."
        ),
    )
    keep_at_least: int = Field(2, ge=1, description="keep: fewest consecutive periods.")

    def capacities(self, institution: Institution) -> list[int]:
        """The institution's capacity in each period, in period order."""
        return self.capacity.get(institution.id, [institution.capacity] * self.count)


class PlannedPair(Strict):
    """A pair of a previous plan, as a solution lists it (score and breakdown are ignored)."""

    a: Id
    b: Id
    score: float | None = None
    breakdown: dict[str, float] | None = None
    period: int | None = Field(
        None, ge=1, description="A multi-year plan's period; its last period is the one kept."
    )


class PlannedGroup(Strict):
    id: str | None = None
    members: list[Id] = Field(min_length=1)
    score: float | None = None


class MatchingPlan(Strict):
    """The ``solution`` object of an earlier matching solution: pairs, or groups."""

    pairs: list[PlannedPair] | None = None
    unmatched: list[Id] | None = None
    groups: list[PlannedGroup] | None = None
    ungrouped: list[Id] | None = None

    def in_force(self) -> MatchingPlan:
        """The plan as it stands at its end: a multi-year plan's pairs of its last period
        (without their period), any other plan as it is."""
        periods = [p.period for p in self.pairs or [] if p.period is not None]
        if not periods:
            return self
        last = max(periods)
        kept = [p.model_copy(update={"period": None}) for p in self.pairs or [] if p.period == last]
        return self.model_copy(update={"pairs": kept})


class MatchingInstance(InstanceBase):
    kind: Literal["matching"] = "matching"
    mode: Literal["pairs", "groups"] = "pairs"
    institutions: list[Institution] = Field(min_length=1)
    scores: list[PairScore] | None = Field(
        None, description="When given, exactly these pairs are candidates, with these scores."
    )
    weights: Weights = Field(default_factory=Weights)
    rules: Rules = Field(default_factory=Rules)
    group: GroupRules = Field(default_factory=GroupRules)
    fairness: Fairness = Field(default_factory=Fairness)
    stability: Literal["report", "penalise", "require"] = Field(
        "report",
        description=(
            "Pairs mode: report blocking pairs; penalise each in the objective "
            "(stability_penalty); or require none."
        ),
    )
    stability_penalty: float = Field(
        0.1, ge=0.0, allow_inf_nan=False, description="Objective units per blocking pair."
    )
    existing: list[list[Id]] = Field(
        default_factory=list,
        description=(
            "Incumbency: partnerships that exist today, as pairs (pairs mode) or consortia "
            "(groups mode). Kept unless changing pays more than options.change_penalty each, "
            "as a previous plan would be."
        ),
    )
    previous: MatchingPlan | None = Field(
        None,
        description=(
            "Re-planning: the solution object of an earlier plan. Each of its pairs (or "
            "each institution's group) that changes costs options.change_penalty."
        ),
    )
    periods: Periods | None = Field(
        None,
        description=(
            "Pairs mode: plan several periods at once, with per-period capacities and a rule "
            "across periods (new_partner or keep)."
        ),
    )

    def incumbent(self) -> MatchingPlan | None:
        """The plan whose changes cost ``change_penalty``: ``previous`` (a multi-year plan's
        last period), or the ``existing`` partnerships as such a plan."""
        if self.previous is not None:
            return self.previous.in_force()
        if not self.existing:
            return None
        if self.mode == "pairs":
            return MatchingPlan(pairs=[PlannedPair(a=p[0], b=p[1]) for p in self.existing])
        return MatchingPlan(groups=[PlannedGroup(members=list(g)) for g in self.existing])

    def previous_plan(self) -> dict[str, Any] | None:
        plan = self.incumbent()
        if plan is None:
            return None
        return plan.model_dump(mode="json", exclude_none=True)

    @model_validator(mode="after")
    def _cross_field_checks(self) -> MatchingInstance:
        check = IssueCollector()
        ids = check.unique_ids(self.institutions, "institutions", "institution")
        for i, inst in enumerate(self.institutions):
            if inst.min_partners > inst.capacity:
                check.add(
                    "min_partners_above_capacity",
                    f"institutions[{i}].min_partners",
                    f"institution {inst.id!r} has min_partners = {inst.min_partners} "
                    f"above its capacity = {inst.capacity}",
                )
        if self.scores is not None:
            seen: set[frozenset[str]] = set()
            for i, entry in enumerate(self.scores):
                path = f"scores[{i}]"
                known = check.reference(entry.a, ids, f"{path}.a", "institution")
                known &= check.reference(entry.b, ids, f"{path}.b", "institution")
                if entry.a == entry.b:
                    check.add("self_pair", path, f"{path} pairs {entry.a!r} with itself")
                elif known:
                    key = frozenset((entry.a, entry.b))
                    if key in seen:
                        check.add(
                            "duplicate_pair",
                            path,
                            f"the pair ({entry.a!r}, {entry.b!r}) is scored more than once",
                        )
                    seen.add(key)
        for field in ("forbidden", "required"):
            for i, (a, b) in enumerate(getattr(self.rules, field)):
                path = f"rules.{field}[{i}]"
                check.reference(a, ids, f"{path}[0]", "institution")
                check.reference(b, ids, f"{path}[1]", "institution")
                if a == b:
                    check.add("self_pair", path, f"{path} pairs {a!r} with itself")
        if self.previous is not None:
            self._check_previous(check)
        self._check_fairness(check)
        self._check_existing(check, ids)
        if self.periods is not None:
            self._check_periods(check, ids)
        if self.group.min_size > self.group.max_size:
            check.add(
                "min_above_max",
                "group.min_size",
                f"group.min_size = {self.group.min_size} is above "
                f"group.max_size = {self.group.max_size}",
            )
        check.raise_if_any()
        return self

    def _check_fairness(self, check: IssueCollector) -> None:
        """Hard: every group a fairness rule names has members; stability is pairs-mode."""
        fairness = self.fairness
        named = [
            (f"fairness.minimums[{k}].group", m.by, m.group)
            for k, m in enumerate(fairness.minimums)
        ]
        named += [
            (f"fairness.groups[{k}]", fairness.by, g) for k, g in enumerate(fairness.groups or [])
        ]
        for path, by, group in named:
            values = {getattr(x, by) for x in self.institutions} - {None}
            check.reference(group, values, path, by)
        # Blocking pairs are a pairs-mode notion; fairness holds in both modes.
        if self.mode == "groups" and self.stability != "report":
            check.add(
                "pairs_mode_only",
                "stability",
                f"stability = {self.stability!r} applies in pairs mode; "
                "this instance is in groups mode",
            )

    def _check_periods(self, check: IssueCollector, ids: Collection[str]) -> None:
        """Hard: periods are pairs mode, name known institutions with one capacity per
        period, and leave out the rules that have no meaning across periods."""
        periods = self.periods
        assert periods is not None
        if self.mode != "pairs":
            check.add(
                "pairs_mode_only",
                "periods",
                "periods apply in pairs mode; this instance is in groups mode",
            )
        for iid, capacities in periods.capacity.items():
            path = f"periods.capacity.{iid}"
            check.reference(iid, ids, path, "institution")
            if len(capacities) != periods.count:
                check.add(
                    "wrong_length",
                    path,
                    f"{path} has {len(capacities)} capacities; periods.count = "
                    f"{periods.count} asks for one per period",
                )
        refused = [
            ("fairness.objective", self.fairness.objective == "max_min", "max_min"),
            ("stability", self.stability != "report", repr(self.stability)),
            ("existing", bool(self.existing), "existing partnerships"),
            ("previous", self.previous is not None, "a previous plan"),
        ]
        for path, given, what in refused:
            if given:
                check.add(
                    "not_with_periods",
                    path,
                    f"{path}: {what} has no meaning across periods; remove it or periods",
                )
        if periods.rule == "new_partner" and periods.count >= 2:
            for k, (a, b) in enumerate(self.rules.required):
                check.add(
                    "periods_conflict",
                    f"rules.required[{k}]",
                    f"the required pair ({a}, {b}) must be selected in each of the "
                    f"{periods.count} periods, but periods.rule = 'new_partner' allows it "
                    "in one",
                )

    def _check_existing(self, check: IssueCollector, ids: Collection[str]) -> None:
        """Hard: existing partnerships name known institutions, pairs in pairs mode, and
        stand alone (with ``previous`` they would be a second plan to keep)."""
        for k, entry in enumerate(self.existing):
            path = f"existing[{k}]"
            for m, member in enumerate(entry):
                check.reference(member, ids, f"{path}[{m}]", "institution")
            if len(set(entry)) != len(entry):
                check.add("self_pair", path, f"{path} names an institution twice")
            wanted = "exactly 2" if self.mode == "pairs" else "at least 2"
            if len(entry) < 2 or (self.mode == "pairs" and len(entry) != 2):
                check.add(
                    "wrong_plan",
                    path,
                    f"{path} has {len(entry)} members; a partnership in {self.mode} mode has "
                    f"{wanted}",
                )
        if self.existing and self.previous is not None:
            check.add(
                "wrong_plan",
                "existing",
                "existing and previous are both given; re-plan against previous alone",
            )

    def _check_previous(self, check: IssueCollector) -> None:
        """Hard: ``previous`` is a plan of this mode."""
        assert self.previous is not None
        listed = "pairs" if self.previous.pairs is not None else None
        if self.previous.groups is not None:
            listed = "groups" if listed is None else "both"
        if listed is None or listed == "both":
            check.add(
                "wrong_plan",
                "previous",
                "previous must be the solution object of a matching solution, with either "
                "pairs or groups",
            )
        elif listed != self.mode:
            check.add(
                "wrong_plan",
                f"previous.{listed}",
                f"previous lists {listed}, but this instance is in {self.mode} mode",
            )

    def warnings(self) -> list[Issue]:
        """A single institution: there is nobody to pair or group it with. A previous plan
        that names institutions no longer here: its pairs and groups with them are dropped."""
        check = IssueCollector()
        if self.previous is not None:
            ids = {x.id for x in self.institutions}
            named = [
                (f"previous.pairs[{k}].{end}", getattr(pair, end))
                for k, pair in enumerate(self.previous.pairs or [])
                for end in ("a", "b")
            ] + [
                (f"previous.groups[{k}].members[{m}]", member)
                for k, group in enumerate(self.previous.groups or [])
                for m, member in enumerate(group.members)
            ]
            for path, iid in named:
                if iid not in ids:
                    check.warn(
                        "previous_unknown_id",
                        path,
                        f"institution {iid!r} of the previous plan is not in the instance: "
                        "its pair or group is dropped",
                    )
        if len(self.institutions) < 2:
            check.warn(
                "too_few_institutions",
                "institutions",
                f"institutions has only {self.institutions[0].id!r}: "
                "there is nothing to pair or group",
            )
        return check.issues
