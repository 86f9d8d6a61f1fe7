"""Liveness of the run store and of MLflow; open without a token so that probes can call it."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
from anyio import to_thread
from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from api.deps import SettingsDep, StoreDep
from api.schemas import HealthCheck, HealthPublic

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

MLFLOW_TIMEOUT_SECONDS = 2.0


def _writable_folder(path: Path) -> bool:
    folder = path if path.is_dir() else path.parent
    return folder.is_dir() and os.access(folder, os.W_OK)


def _check_sqlite_store(uri: str) -> tuple[bool, str]:
    try:
        database = make_url(uri).database
    except ArgumentError:
        return False, f"invalid MLflow tracking URI {uri!r}: not an SQLAlchemy URL"
    if not database or database == ":memory:":
        return (
            False,
            "the MLflow SQLite store has no file path; set MLFLOW_TRACKING_URI=sqlite:///PATH",
        )

    path = Path(database).expanduser()
    if not path.exists():
        if _writable_folder(path):
            return True, f"SQLite store {path} does not exist yet; MLflow creates it on first use"
        return False, f"SQLite store {path} is missing and its folder is not writable"
    try:
        with sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=MLFLOW_TIMEOUT_SECONDS
        ) as db:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        return False, f"SQLite store {path} cannot be read: {exc}"
    return True, f"SQLite store {path} is readable"


def _check_file_store(uri: str) -> tuple[bool, str]:
    path = Path(urlparse(uri).path if uri.startswith("file:") else uri).expanduser()
    if path.is_dir():
        return True, f"file store {path} exists"
    if _writable_folder(path):
        return True, f"file store {path} does not exist yet; MLflow creates it on first use"
    return False, f"file store {path} is missing and its folder is not writable"


async def _check_http_server(uri: str) -> tuple[bool, str]:
    url = uri.rstrip("/") + "/health"
    try:
        async with httpx.AsyncClient(timeout=MLFLOW_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return False, f"GET {url} failed: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return False, f"GET {url} returned HTTP {response.status_code}"
    return True, f"GET {url} returned HTTP 200"


async def check_mlflow(uri: str) -> tuple[bool, str]:
    """Check the tracking store: HTTP servers by `/health`, SQLite and file stores on disk."""
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        return await _check_http_server(uri)
    if scheme.startswith("sqlite"):
        return await to_thread.run_sync(_check_sqlite_store, uri)
    if scheme in ("", "file") or len(scheme) == 1:  # a one-letter scheme is a Windows drive
        return await to_thread.run_sync(_check_file_store, uri)
    return True, f"not checked: the {scheme!r} tracking store has no connectivity check here"


def check_database(store_ping: object) -> tuple[bool, str]:
    try:
        store_ping()  # type: ignore[operator]
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, "SELECT 1 succeeded"


async def _timed(check: object) -> HealthCheck:
    started = time.perf_counter()
    ok, detail = await check  # type: ignore[misc]
    return HealthCheck(
        ok=ok, detail=detail, duration_ms=round((time.perf_counter() - started) * 1000, 2)
    )


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "A dependency is unavailable."}},
)
async def health(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Check the run store and the MLflow tracking store; 503 when either fails."""
    database = await _timed(to_thread.run_sync(check_database, store.ping))
    mlflow = await _timed(check_mlflow(settings.mlflow_tracking_uri))
    healthy = database.ok and mlflow.ok
    if not healthy:
        logger.warning("Health check failed: database=%s mlflow=%s", database.detail, mlflow.detail)
    body = HealthPublic(
        status="ok" if healthy else "unavailable", checks={"database": database, "mlflow": mlflow}
    )
    code = status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(status_code=code, content=body.model_dump(mode="json"))
