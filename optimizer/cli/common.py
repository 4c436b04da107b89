"""What every command shares: the typer app, the consoles and the exit codes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="UniShare: optimal matching, instrument scheduling and library loans for alliances.",
)
# Piped or captured output (CI logs, files) gets a wide table rather than rich's 80
# columns, which would fold every path in the summary over several lines.
out = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID = 0, 1, 2
