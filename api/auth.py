"""API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` on every /v1 route."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

# Declared as security schemes so that /docs offers to send a key; checked below.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")


def key_matches(presented: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit)."""
    given = presented.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header: Annotated[str | None, Security(_header)] = None,
) -> None:
    """FastAPI dependency: 401 unless a configured key is presented (no keys: open)."""
    keys: tuple[str, ...] = request.app.state.api_keys
    if not keys:
        return
    presented = [k.strip() for k in (bearer.credentials if bearer else None, header) if k]
    if not any(key_matches(k, keys) for k in presented if k):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid API key is required: Authorization: Bearer <key> or X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
