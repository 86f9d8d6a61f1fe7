"""The FastAPI application: `uvicorn api.main:app`, or `create_app(...)` for tests and embedding."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from agent.run_store import RunStore
from api.launcher import DecideFunction, RunLauncher
from api.routers import health, pipeline, reports
from api.streaming import StepSignal
from watchtower.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def _configure_logging(level: str) -> None:
    """Send this package's INFO lines somewhere when the server has not configured logging."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("Database error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "the run store database is unavailable; check DATABASE_URL and /health"},
    )


def _open(app: FastAPI, settings: Settings, store: RunStore | None) -> RunStore:
    opened = store or RunStore(settings.database_url)
    recovered = opened.recover_interrupted()
    if recovered:
        logger.warning("Marked %s run(s) as interrupted: %s", len(recovered), ", ".join(recovered))
    app.state.settings = settings
    app.state.store = opened
    return opened


def create_app(
    settings: Settings | None = None,
    store: RunStore | None = None,
    *,
    decide: DecideFunction | None = None,
    max_concurrent_runs: int = 4,
    stream_poll_seconds: float = 1.0,
    stream_heartbeat_seconds: float = 15.0,
) -> FastAPI:
    """Build the app; settings and store default to the environment's, opened at start-up.

    `decide` replaces the agent's decision loop (tests use a scripted one). Streams poll the store
    every `stream_poll_seconds` for steps written by other processes and send a heartbeat comment
    every `stream_heartbeat_seconds`.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        _configure_logging(resolved.log_level)
        opened = await asyncio.to_thread(_open, app, resolved, store)
        launcher = RunLauncher(opened, max_concurrent_runs=max_concurrent_runs, decide=decide)
        signal = StepSignal(asyncio.get_running_loop())
        opened.add_listener(signal.notify)
        app.state.launcher = launcher
        app.state.step_signal = signal
        logger.info("watchtower API started (database %s)", opened.engine.url.render_as_string())
        try:
            yield
        finally:
            opened.remove_listener(signal.notify)
            launcher.shutdown()
            if store is None:
                opened.close()
            logger.info("watchtower API stopped")

    app = FastAPI(
        title="watchtower-agent",
        summary="Watches a production model for drift; retrains, evaluates and promotes it when it helps.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.stream_poll_seconds = stream_poll_seconds
    app.state.stream_heartbeat_seconds = stream_heartbeat_seconds
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.include_router(pipeline.router)
    app.include_router(reports.router)
    app.include_router(health.router)
    return app


app = create_app()
