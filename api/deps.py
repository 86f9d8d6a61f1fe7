"""Dependencies of the routes, as `Annotated` aliases; tests replace them with `dependency_overrides`."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.run_store import RunStore
from api.launcher import RunLauncher
from api.streaming import StepSignal
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="The value of WATCHTOWER_API_TOKEN.")
_REJECTION_LOG_INTERVAL_SECONDS = 60.0
_rejections = {"count": 0, "logged_at": 0.0}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_store(request: Request) -> RunStore:
    return request.app.state.store  # type: ignore[no-any-return]


def get_launcher(request: Request) -> RunLauncher:
    return request.app.state.launcher  # type: ignore[no-any-return]


def get_step_signal(request: Request) -> StepSignal:
    return request.app.state.step_signal  # type: ignore[no-any-return]


def _log_rejection(request: Request) -> None:
    """Log rejected tokens at most once a minute, with the count since the last line."""
    _rejections["count"] += 1
    now = time.monotonic()
    if now - _rejections["logged_at"] < _REJECTION_LOG_INTERVAL_SECONDS:
        return
    client = request.client.host if request.client else "unknown"
    logger.warning(
        "Rejected %s request(s) without a valid bearer token; latest: %s %s from %s",
        _rejections["count"],
        request.method,
        request.url.path,
        client,
    )
    _rejections["count"] = 0
    _rejections["logged_at"] = now


def require_token(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Reject the request with 401 unless it carries WATCHTOWER_API_TOKEN (when that is set)."""
    expected = settings.watchtower_api_token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        return
    _log_rejection(request)
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="missing or invalid bearer token; send 'Authorization: Bearer <WATCHTOWER_API_TOKEN>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[RunStore, Depends(get_store)]
LauncherDep = Annotated[RunLauncher, Depends(get_launcher)]
StepSignalDep = Annotated[StepSignal, Depends(get_step_signal)]
TokenDep = Depends(require_token)
