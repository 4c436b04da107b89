"""The planner's page: ``/`` and its files under ``/page/``, open to everyone.

The page calls the /v1 routes from the browser, so it needs no key of its own; it asks for
one when a /v1 call answers 401. Its files are plain HTML, CSS and JavaScript modules, served
as they are in the repository (no build step).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"
# Explicit types: a machine's mimetypes table may not know .js or .mjs as JavaScript, and
# browsers refuse to run a module served under another type.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# The files change with the code, not with time: revalidate on every load.
HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=MEDIA_TYPES[".html"], headers=HEADERS)


@router.get("/page/{name:path}")
def asset(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    media_type = MEDIA_TYPES.get(path.suffix)
    if media_type is None or not path.is_relative_to(STATIC) or not path.is_file():
        raise HTTPException(404, f"no page file {name!r}")
    return FileResponse(path, media_type=media_type, headers=HEADERS)
