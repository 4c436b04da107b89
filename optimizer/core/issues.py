"""Validation issues: what is wrong with a document, and where.

Structural problems (types, ranges, missing and unknown fields) come from pydantic and are
translated here; cross-field problems (duplicate ids, unknown references) are raised by each
kind's model validator as :class:`InstanceIssues`, which carries exact paths.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Severity = Literal["error", "warning"]


class Issue(BaseModel):
    """One problem in an instance document."""

    model_config = ConfigDict(extra="forbid")

    code: str
    severity: Severity = "error"
    path: str = ""
    detail: str


class InstanceIssues(Exception):
    """Raised by model validators for cross-field problems.

    Deliberately *not* a ``ValueError``: pydantic would fold a ``ValueError`` into one
    generic message and lose the per-issue paths.
    """

    def __init__(self, issues: Sequence[Issue]):
        super().__init__("; ".join(f"{i.path}: {i.detail}" for i in issues))
        self.issues = list(issues)


def format_path(loc: Iterable[Any]) -> str:
    """``("institutions", 3, "capacity")`` -> ``"institutions[3].capacity"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# pydantic error types -> our stable issue codes. Anything unlisted keeps pydantic's own type.
_CODE_BY_PYDANTIC_TYPE = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "finite_number": "not_finite",
    "too_short": "too_short",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "int_type": "wrong_type",
    "int_parsing": "wrong_type",
    "int_from_float": "wrong_type",
    "float_type": "wrong_type",
    "float_parsing": "wrong_type",
    "string_type": "wrong_type",
    "bool_type": "wrong_type",
    "bool_parsing": "wrong_type",
    "list_type": "wrong_type",
    "dict_type": "wrong_type",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "tuple_type": "wrong_type",
    "datetime_type": "invalid_datetime",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
    "timezone_aware": "missing_utc_offset",
    "date_type": "invalid_date",
    "date_parsing": "invalid_date",
    "date_from_datetime_parsing": "invalid_date",
    "date_from_datetime_inexact": "invalid_date",
}


SUGGESTION_CUTOFF = 0.8


def did_you_mean(value: Any, choices: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice nearest to ``value``, or ``""`` when none is
    close: an ending for a detail that reports an unknown id or field name."""
    if not isinstance(value, str):
        return ""
    # Sorted, so that the same document always gets the same suggestion. The cutoff is
    # above difflib's 0.6, which pairs ids that only share a suffix ('lzu-lib' and
    # 'xju-lib'); a typo ('capasity', 'cryo-em1') scores 0.85 or more.
    nearest = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=SUGGESTION_CUTOFF)
    return f"; did you mean {nearest[0]!r}?" if nearest else ""


def field_names(model: type[BaseModel]) -> list[str]:
    """The names a document uses for ``model``'s fields (aliases where a field has one)."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class that validates the object at ``loc`` inside a ``model`` document."""
    current: list[Any] = [model]
    for part in loc:
        found: list[Any] = []
        for tp in _alternatives(current):
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                if isinstance(part, str):
                    by_name = {f.alias or n: f for n, f in tp.model_fields.items()}
                    if part in by_name:
                        found.append(by_name[part].annotation)
            else:
                origin, args = typing.get_origin(tp), typing.get_args(tp)
                if origin in (list, tuple, set, frozenset) and isinstance(part, int):
                    found += [a for a in args if a is not Ellipsis]
                elif origin is dict and isinstance(part, str) and len(args) == 2:
                    found.append(args[1])
        current = found
    models = [t for t in _alternatives(current) if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if len(models) == 1 else None


def _alternatives(types_: list[Any]) -> list[Any]:
    """The types behind ``Annotated``, ``Optional`` and unions, flattened."""
    out: list[Any] = []
    todo = list(types_)
    while todo:
        tp = todo.pop(0)
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            todo.insert(0, typing.get_args(tp)[0])
        elif origin is typing.Union or origin is types.UnionType:
            todo[:0] = typing.get_args(tp)
        else:
            out.append(tp)
    return out


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def issues_from_validation_error(
    error: ValidationError, model: type[BaseModel] | None = None
) -> list[Issue]:
    """Translate pydantic's errors into issues that name the field and the offending value.

    With the ``model`` that was validated, an unknown field's detail suggests the nearest
    field name defined at that place.
    """
    issues = []
    for err in error.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = format_path(loc)
        code = _CODE_BY_PYDANTIC_TYPE.get(err["type"], err["type"])
        message = err["msg"]
        if err["type"] == "missing":
            detail = f"{path or 'document'} is required"
        elif err["type"] == "extra_forbidden":
            detail = f"{path} is not a known field"
            owner = _model_at(model, loc[:-1]) if model is not None and loc else None
            if owner is not None:
                detail += did_you_mean(loc[-1], field_names(owner))
        elif "input" in err and err["type"] != "missing":
            detail = f"{path or 'document'} = {_describe(err['input'])}: {message[0].lower()}{message[1:]}"
        else:
            detail = f"{path or 'document'}: {message}"
        issues.append(Issue(code=code, path=path, detail=detail))
    return issues


class IssueCollector:
    """Accumulates cross-field issues inside a model validator, then raises them together;
    or, for an instance's warnings, collects them to be returned."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, code: str, path: str, detail: str) -> None:
        self.issues.append(Issue(code=code, path=path, detail=detail))

    def warn(self, code: str, path: str, detail: str) -> None:
        """A problem worth a look that leaves the document valid."""
        self.issues.append(Issue(code=code, severity="warning", path=path, detail=detail))

    def unique_ids(self, items: Sequence[Any], list_path: str, what: str) -> set[str]:
        """Report repeated ``id`` values in a list; return the set of ids."""
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                self.add(
                    "duplicate_id",
                    f"{list_path}[{index}].id",
                    f"{what} id {item.id!r} is used more than once",
                )
            seen.add(item.id)
        return seen

    def reference(self, value: str, known: Collection[str], path: str, what: str) -> bool:
        """Report ``value`` at ``path`` unless it is one of the ``known`` ids; suggest the
        nearest known id when one is close. True when ``value`` is known."""
        if value in known:
            return True
        self.add(
            "unknown_reference",
            path,
            f"{what} {value!r} is not defined{did_you_mean(value, known)}",
        )
        return False

    def raise_if_any(self) -> None:
        if self.issues:
            raise InstanceIssues(self.issues)
