"""The UniShare HTTP service: a thin FastAPI layer over the same solve functions as the CLI."""

from api.app import create_app
from api.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]
