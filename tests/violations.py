"""The violation messages a verifier module can emit, read from its source.

Each ``.append(...)`` of a string or f-string in the module is one message family; its
constant parts must appear as written, each ``{...}`` stands for any text. A mutation test
uses these to show that every family is produced by at least one break, so a check added to
a verifier without a test that triggers it fails the suite.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterable


def message_templates(module: str) -> list[re.Pattern[str]]:
    """One pattern per violation message written in the module named ``module``.

    Takes the dotted name, not the object: a kind's package re-exports its ``verify``
    function under the submodule's name, and the function alone would hide the helpers'
    messages.
    """
    source = inspect.getsource(importlib.import_module(module))
    patterns = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
            and len(node.args) == 1
        ):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            patterns.append(re.compile(re.escape(arg.value)))
        elif isinstance(arg, ast.JoinedStr):
            parts = [
                re.escape(v.value) if isinstance(v, ast.Constant) else ".*?" for v in arg.values
            ]
            patterns.append(re.compile("".join(parts)))
    return patterns


def unmatched_templates(module: str, messages: Iterable[str]) -> list[str]:
    """The templates of ``module`` that none of ``messages`` matches."""
    seen = list(messages)
    return [
        p.pattern
        for p in message_templates(module)
        if not any(p.fullmatch(message) for message in seen)
    ]
