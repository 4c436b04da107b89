"""The batch CLI (contract section 8): thin adapters over ``solve_document`` and the engine.

Progress and logs go to stderr, tables to stdout, documents to files. The commands live by
family: ``batch`` (solve, validate), ``plans`` (compare, show, export, import, template) and
``service`` (serve, worker, schema, jsplib); each registers itself on :data:`app`.
"""

from optimizer.cli import batch, plans, service
from optimizer.cli.common import app

__all__ = ["app", "batch", "main", "plans", "service"]


def main() -> None:
    app()
