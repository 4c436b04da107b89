"""Instance and solution documents of the ``matching`` kind (contract section 3)."""

from __future__ import annotations

from typing import Annotated, Literal

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
        if self.group.min_size > self.group.max_size:
            check.add(
                "min_above_max",
                "group.min_size",
                f"group.min_size = {self.group.min_size} is above "
                f"group.max_size = {self.group.max_size}",
            )
        check.raise_if_any()
        return self

    def warnings(self) -> list[Issue]:
        """A single institution: there is nobody to pair or group it with."""
        check = IssueCollector()
        if len(self.institutions) < 2:
            check.warn(
                "too_few_institutions",
                "institutions",
                f"institutions has only {self.institutions[0].id!r}: "
                "there is nothing to pair or group",
            )
        return check.issues
