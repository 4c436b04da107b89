"""API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` on every /v1 route."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


def key_matches(presented: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit)."""
    given = presented.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


def require_api_key(request: Request) -> None:
    """FastAPI dependency: 401 unless a configured key is presented (no keys: open)."""
    keys: tuple[str, ...] = request.app.state.api_keys
    if not keys:
        return
    presented = presented_key(request)
    if presented is None or not key_matches(presented, keys):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid API key is required: Authorization: Bearer <key> or X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
