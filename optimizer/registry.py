"""Kind name -> the kind's declaration (:class:`optimizer.core.runner.Kind`).

A kind is one package under ``optimizer/`` that declares ``KIND`` in its ``__init__.py``
and one line in ``BUILT_IN`` below (the README's layout section lists what ``KIND`` holds).
A kind kept outside this repository is named in ``UNISHARE_EXTRA_KINDS`` instead, as
``package.module:ATTRIBUTE`` entries separated by commas; worker processes inherit it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from optimizer import instruments, loans, matching
from optimizer.core.runner import Kind

BUILT_IN: tuple[Kind[Any], ...] = (matching.KIND, loans.KIND, instruments.KIND)

EXTRA_KINDS_VARIABLE = "UNISHARE_EXTRA_KINDS"


def load_extra_kinds(spec: str) -> list[Kind[Any]]:
    """The kinds named by ``spec`` ("module:ATTRIBUTE,…"); an entry that does not name a
    Kind raises ValueError naming the variable and the entry."""
    kinds: list[Kind[Any]] = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        module_name, _, attribute = entry.partition(":")
        try:
            kind = getattr(importlib.import_module(module_name), attribute or "KIND")
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"{EXTRA_KINDS_VARIABLE} entry {entry!r}: {exc}") from exc
        if not isinstance(kind, Kind):
            raise ValueError(f"{EXTRA_KINDS_VARIABLE} entry {entry!r} is not a Kind")
        kinds.append(kind)
    return kinds


KINDS: dict[str, Kind[Any]] = {
    kind.name: kind
    for kind in (*BUILT_IN, *load_extra_kinds(os.environ.get(EXTRA_KINDS_VARIABLE, "")))
}


def get_kind(name: str) -> Kind[Any] | None:
    return KINDS.get(name)
