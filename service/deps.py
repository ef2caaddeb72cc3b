"""FastAPI dependencies: the shared runtime, and API-key authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from service.runtime import Runtime

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="one of the keys in API_KEYS, or one an admin made")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def require_api_key(runtime: RuntimeDep,
                    key: Annotated[str | None, Depends(_api_key_header)]) -> None:
    if not key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header",
                            headers={"WWW-Authenticate": "ApiKey"})
    in_settings = any(hmac.compare_digest(key.encode(), known.encode())
                      for known in runtime.settings.api_keys)
    if not in_settings and not runtime.review.api_keys.is_valid(key):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key",
                            headers={"WWW-Authenticate": "ApiKey"})


ApiKey = Depends(require_api_key)
