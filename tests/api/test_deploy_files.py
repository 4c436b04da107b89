"""The deployment files say what the code understands: every UNISHARE_* variable of the
compose file is a setting with a valid value, and the image check reads the Dockerfile's own
COPY and pip install steps."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from api.settings import load_settings
from tests.api.conftest import REPO_ROOT


def image_check() -> Any:
    spec = importlib.util.spec_from_file_location(
        "image_check", REPO_ROOT / "deploy" / "image_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compose_file_sets_only_real_settings() -> None:
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "redis", "postgres"} <= set(services)
    assert services["worker"]["command"] == ["unishare", "worker"]
    for name in ("api", "worker"):
        environment = {k: str(v) for k, v in services[name]["environment"].items()}
        settings = load_settings(environment)  # an unknown UNISHARE_ name or value raises
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.database_url.startswith("postgresql+psycopg://")


def test_the_image_check_follows_the_dockerfile(tmp_path: Path) -> None:
    module = image_check()
    steps = module.instructions((REPO_ROOT / "Dockerfile").read_text())
    assert module.pip_lines(steps)[0][0] == "."  # the image installs the project itself
    copied = module.copy_sources(steps, tmp_path)
    assert {"pyproject.toml", "optimizer", "api", "instances"} <= set(copied)
    assert (tmp_path / "api" / "rqueue" / "worker.py").is_file()
    assert (tmp_path / "pyproject.toml").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
