"""One cell's text as a document value, and a value as a cell."""

from __future__ import annotations

import json
import typing
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, NaiveDatetime

from optimizer.core.spreadsheets.layout import Column


class BadCell(ValueError):
    """A cell whose text cannot be read as its column's kind of value."""


EMPTY = object()


def text_of_number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _scalar_from_cell(value: Any, tp: Any) -> Any:
    """The JSON value of one cell for a field of type ``tp``; what cannot be converted is
    passed on as it is, for validation to name what is wrong with it."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return EMPTY
    is_datetime = tp in (AwareDatetime, NaiveDatetime) or (
        isinstance(tp, type) and issubclass(tp, datetime)
    )
    if isinstance(value, datetime):
        if is_datetime:
            return value.isoformat()  # a spreadsheet's own dates have no offset: named later
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "yes", "y", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "n", "0"):
            return False
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        return value
    if tp is int and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return value
        return value
    if tp is float and not isinstance(value, bool):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        # A number typed into a text column (an id such as 101) is that text.
        is_text = typing.get_origin(tp) is Literal or (isinstance(tp, type) and issubclass(tp, str))
        return text_of_number(value) if is_text else value
    return value


def _json_cell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadCell(f"not valid JSON: {exc}") from None


def from_cell(value: Any, column: Column) -> Any:
    """The JSON value of a cell of ``column``, :data:`EMPTY` for an empty cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return EMPTY
    if column.cell == "scalar":
        return _scalar_from_cell(value, column.base)
    text = value.strip() if isinstance(value, str) else text_of_number(value)
    if column.cell == "json" or text[0] in "[{":
        return _json_cell(text)
    if column.cell == "list":
        return [_scalar_from_cell(part.strip(), column.base) for part in text.split(",")]
    if column.cell == "pairs":
        return [
            [_scalar_from_cell(x.strip(), column.base) for x in pair.split(",")]
            for pair in text.split(";")
            if pair.strip()
        ]
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, colon, number = part.rpartition(":")
        if not colon or not key.strip():
            raise BadCell(f"{part!r} is not 'key: value'")
        out[key.strip()] = _scalar_from_cell(number.strip(), column.base)
    return out


def _plain_text(value: Any, separators: str) -> bool:
    return (
        isinstance(value, str)
        and value == value.strip()
        and value != ""
        and not any(s in value for s in separators)
        and value[0] not in "[{"
    )


def to_cell(value: Any, column: Column) -> Any:
    """What a cell of ``column`` holds for the JSON ``value`` (None: an empty cell)."""
    if value is None:
        return None
    if column.cell == "scalar":
        if isinstance(value, float) and float(f"{value:.16g}") != value:
            return repr(value)  # workbooks keep 16 digits; the text keeps the exact number
        return value
    if column.cell == "list" and value and all(_plain_text(x, ",") for x in value):
        return ", ".join(value)
    if (
        column.cell == "pairs"
        and value
        and all(isinstance(p, list) and all(_plain_text(x, ",;") for x in p) for p in value)
    ):
        return "; ".join(", ".join(p) for p in value)
    if (
        column.cell == "mapping"
        and value
        and all(_plain_text(k, ",:") for k in value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
    ):
        return ", ".join(f"{k}: {v!r}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False)


def get_path(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = data
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return None
        current = current[key]
    return current


def put_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value
