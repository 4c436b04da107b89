"""Service settings, read from ``UNISHARE_*`` environment variables.

Every setting has an embedded default, so ``unishare serve`` runs with no configuration at all:
a SQLite file under ``./var/`` and local worker processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

PREFIX = "UNISHARE_"


def default_worker_memory_mb() -> int:
    """Three quarters of the machine's memory shared by the concurrent solves, at least 4 GiB.

    A runaway instance then fails its own job instead of starving the machine.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return 0
    return max(4096, int(total * 0.75 / max(1, os.cpu_count() or 1)))


class Settings(BaseModel):
    """What an operator can tune; each field is ``UNISHARE_<FIELD NAME IN CAPITALS>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(
        "sqlite:///./var/unishare.db",
        description="Any SQLAlchemy URL; SQLite files are opened in WAL mode.",
    )
    table_prefix: str = Field(
        "unishare_", description="Prefix of the service's table names (lets tests share a DB)."
    )
    api_keys: tuple[str, ...] = Field(
        (), description="Comma-separated API keys; when any is set, /v1 requires one."
    )
    api_key_file: Path | None = Field(
        None, description="File with one API key per line (# comments allowed)."
    )
    max_concurrent_solves: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        description="Solves running at once (each in its own process).",
    )
    max_time_limit_s: float = Field(300.0, gt=0, description="Cap on any solve's time limit.")
    # A loans batch of 20,000 requests over 100,000 copies is about 13 MB of JSON.
    max_body_bytes: int = Field(32_000_000, ge=1, description="Largest accepted request body.")
    # The loans batch above has 140,100 entries (copies, requests, routes, libraries).
    max_entities: int = Field(
        250_000, ge=1, description="Most list entries (institutions, requests…) per instance."
    )
    max_queued_jobs: int = Field(1000, ge=1, description="Waiting jobs before 429.")
    retention_hours: float = Field(
        168.0, gt=0, description="Finished jobs older than this are deleted."
    )
    cancel_grace_s: float = Field(
        5.0, ge=0, description="After a stop request, seconds before the worker is killed."
    )
    worker_memory_mb: int = Field(
        default_factory=lambda: default_worker_memory_mb(),
        ge=0,
        description="Address-space limit of each worker process in MiB (0 = none).",
    )
    sync_timeout_s: float = Field(
        600.0, gt=0, description="Longest wait of POST /v1/solve, queueing included."
    )

    def all_api_keys(self) -> tuple[str, ...]:
        """Keys from ``api_keys`` and ``api_key_file``, blanks and comments dropped."""
        keys = [k for k in self.api_keys if k]
        if self.api_key_file is not None:
            for line in self.api_key_file.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    keys.append(line)
        return tuple(dict.fromkeys(keys))


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``environ`` (default ``os.environ``), then ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name in Settings.model_fields:
        raw = env.get(PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        if name == "api_keys":
            values[name] = tuple(k.strip() for k in raw.split(",") if k.strip())
        else:
            values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
