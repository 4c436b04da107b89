"""A kind's workbook layout, read off its instance model: the document sheet's fields, a
sheet per list of objects, and what kind of value each column holds."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, NaiveDatetime
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

DOCUMENT_SHEET = "document"
NOTES_SHEET = "notes"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A workbook compresses its XML about tenfold; a sheet of 250,000 rows unpacks to roughly
# 100 MB. More than this is refused before anything is unpacked (a zip bomb).
MAX_UNZIPPED_BYTES = 400_000_000

CellKind = Literal["scalar", "list", "pairs", "mapping", "json"]


@dataclass
class Column:
    """One column of a sheet (or one row of the document sheet)."""

    name: str
    """The header: the field's name in the document, dotted inside nested objects."""
    path: tuple[str, ...]
    cell: CellKind
    base: Any
    """The scalar type of the value, or of the list's or mapping's values."""
    required: bool
    default: Any
    description: str
    choices: tuple[str, ...] = ()


@dataclass
class Sheet:
    """One sheet: a list of objects of the document, one row per object."""

    name: str
    field: str
    columns: list[Column]
    required: bool
    parent: Sheet | None = None
    description: str = ""

    @property
    def key(self) -> str | None:
        """The header of the column naming the parent entry (``requests.id``)."""
        return f"{self.parent.name}.id" if self.parent is not None else None

    @property
    def headers(self) -> list[str]:
        return ([self.key] if self.key else []) + [c.name for c in self.columns]


@dataclass
class Layout:
    kind: str
    document: list[Column]
    sheets: list[Sheet]

    def sheet(self, name: str) -> Sheet | None:
        return next((s for s in self.sheets if s.name == name), None)


def _plain(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` and without ``None`` in a union; a union of
    several other types stays as it is (its cells are JSON)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found = [_plain(a) for a in typing.get_args(annotation) if a is not type(None)]
        return found[0] if len(found) == 1 else annotation
    return annotation


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _scalar(tp: Any) -> bool:
    if typing.get_origin(tp) is Literal:
        return True
    if tp in (AwareDatetime, NaiveDatetime):
        return True
    return isinstance(tp, type) and issubclass(tp, str | int | float | bool | date)


def choices(tp: Any) -> tuple[str, ...]:
    if typing.get_origin(tp) is Literal:
        return tuple(str(a) for a in typing.get_args(tp))
    if tp is bool:
        return ("true", "false")
    return ()


def _classify(annotation: Any) -> tuple[CellKind | Literal["model", "sheet"], Any]:
    tp = _plain(annotation)
    if _is_model(tp):
        return "model", tp
    if _scalar(tp):
        return "scalar", tp
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple) and args:
        item = _plain(args[0])
        if origin is list and _is_model(item):
            return "sheet", item
        if _scalar(item) and (origin is list or Ellipsis in args or len(set(args)) == 1):
            return "list", item
        if origin is list and typing.get_origin(item) is tuple:
            inner = [_plain(a) for a in typing.get_args(item)]
            if inner and all(_scalar(a) for a in inner):
                return "pairs", inner[0]
    if origin is dict and len(args) == 2 and _scalar(_plain(args[1])):
        return "mapping", _plain(args[1])
    return "json", tp


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """(name in the document, field) of each field of ``model``, aliases first."""
    return [(info.alias or name, info) for name, info in model.model_fields.items()]


def _columns(
    fields: list[tuple[str, FieldInfo]],
    prefix: tuple[str, ...],
    owner: str,
    sheets: list[Sheet] | None,
    within_required: bool = True,
) -> list[Column]:
    """The columns of ``fields``; a list of objects becomes a sheet appended to ``sheets``
    when it is given (only entries with an ``id`` can own the rows of another sheet), and a
    JSON cell otherwise."""
    out: list[Column] = []
    for key, info in fields:
        what, tp = _classify(info.annotation)
        description = info.description or ""
        if what == "model":
            required = within_required and info.is_required()
            out += _columns(_fields(tp), (*prefix, key), owner, None, required)
            continue
        if what == "sheet" and sheets is not None:
            name = f"{owner}.{key}"[:31]
            sheets.append(
                Sheet(
                    name,
                    key,
                    _columns(_fields(tp), (), name, None),
                    info.is_required(),
                    description=description,
                )
            )
            continue
        cell: CellKind = "json" if what == "sheet" else what
        out.append(
            Column(
                name=".".join((*prefix, key)),
                path=(*prefix, key),
                cell=cell,
                base=tp,
                required=info.is_required() and within_required,
                default=_default(info),
                description=description,
                choices=choices(tp) if cell == "scalar" else (),
            )
        )
    return out


# A previous plan comes from a solution document (`--previous`), not from cells typed by hand.
NOT_IN_WORKBOOKS = frozenset({"previous"})


def layout(kind: str) -> Layout:
    """The workbook layout of ``kind``, read off its instance model."""
    from optimizer.registry import KINDS

    model = KINDS[kind].instance_model
    document: list[Column] = []
    sheets: list[Sheet] = []
    fields = sorted(_fields(model), key=lambda f: f[0] != "kind")  # kind first: it says the rest
    for key, info in fields:
        if key in NOT_IN_WORKBOOKS:
            continue
        what, tp = _classify(info.annotation)
        if what != "sheet":
            document += _columns([(key, info)], (), "", None)
            continue
        top = Sheet(key[:31], key, [], info.is_required(), description=info.description or "")
        children: list[Sheet] = []
        top.columns = _columns(_fields(tp), (), key, children if "id" in tp.model_fields else None)
        for child in children:
            child.parent = top
        sheets += [top, *children]
    for column in document:
        if column.name == "options.solver":  # the one option whose values depend on the kind
            column.choices = tuple(KINDS[kind].solvers)
    return Layout(kind, document, sheets)
