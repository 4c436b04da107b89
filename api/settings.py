"""Service settings, read from ``UNISHARE_*`` environment variables.

Every setting has an embedded default, so ``unishare serve`` runs with no configuration at all:
a SQLite file under ``./var/`` and local worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

from optimizer.core.issues import issues_from_validation_error

PREFIX = "UNISHARE_"

# The variables load_settings() was given in place of the process's own, if any.
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("unishare_environ", default=None)


def default_worker_memory_mb() -> int:
    """Three quarters of the machine's memory shared by the concurrent solves, at least 4 GiB.

    A runaway instance then fails its own job instead of starving the machine.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return 0
    return max(4096, int(total * 0.75 / max(1, os.cpu_count() or 1)))


class _GivenEnviron(EnvSettingsSource):
    """Environment variables from a mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._given = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # As for os.environ: names are case-insensitive and empty values count as unset.
        return {k.lower(): v for k, v in self._given.items() if v != ""}


class Settings(BaseSettings):
    """What an operator can tune; each field is ``UNISHARE_<FIELD NAME IN CAPITALS>``."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="forbid", frozen=True
    )

    database_url: str = Field(
        "sqlite:///./var/unishare.db",
        description="Any SQLAlchemy URL; SQLite files are opened in WAL mode.",
    )
    table_prefix: str = Field(
        "unishare_", description="Prefix of the service's table names (lets tests share a DB)."
    )
    # NoDecode: the variable is a comma-separated list, not JSON.
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
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
    redis_url: str | None = Field(
        None,
        description=(
            "redis://host:port/db: solve on `unishare worker` processes through RQ instead of "
            "in local processes (unset: local)."
        ),
    )
    queue_name: str = Field(
        "unishare",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="RQ queue for stored jobs; synchronous solves use <name>-sync.",
    )
    max_attempts: int = Field(
        3, ge=1, description="Runs of a job whose worker died before it is failed (RQ)."
    )
    worker_lease_s: float = Field(
        30.0,
        gt=0,
        description="A running job whose worker shows no heartbeat this long is re-run (RQ).",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments first, then the environment; no .env or secrets files.
        environ = _environ.get()
        env = env_settings if environ is None else _GivenEnviron(settings_cls, environ)
        return (init_settings, env)

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


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``environ`` (default ``os.environ``), then ``overrides``."""
    token = _environ.set(environ)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # The same "name = value: reason" as a document's issues, named as the operator set it.
        problems = "; ".join(
            PREFIX + issue.path.upper() + issue.detail.removeprefix(issue.path)
            for issue in issues_from_validation_error(exc)
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    except SourceError as exc:
        raise SettingsError(f"invalid settings: {exc}") from None
    finally:
        _environ.reset(token)
