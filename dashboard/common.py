"""Helpers that every dashboard page uses: the API client from the settings, error display, formatting."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import streamlit as st
from pydantic import ValidationError

from dashboard.api_client import ApiClient, ApiError, ApiUnauthorizedError, ApiUnreachableError
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

TRACE_PAGE = "pages/2_agent_trace.py"
RUNS_PAGE = "pages/1_runs.py"
DRIFT_PAGE = "pages/3_drift_timeline.py"
MODELS_PAGE = "pages/4_models.py"

NO_RUNS_MESSAGE = (
    "No runs yet. Start one with `watchtower demo`, or ask the API for a dry run: "
    "`curl -X POST {url}/pipeline/run -d '{{\"dry_run\": true}}'`, then reload this page."
)


def _load_settings() -> Settings | None:
    # Read afresh on every script run, so a changed environment or .env takes effect on reload.
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )
        st.error(
            f"The watchtower settings are invalid ({problems}). Fix the environment variable or "
            "the `.env` entry named here, then restart the dashboard."
        )
        return None


@contextmanager
def api_client() -> Iterator[ApiClient | None]:
    """Yield a client for the configured API, or None after showing why the settings are unusable."""
    settings = _load_settings()
    if settings is None:
        yield None
        return
    token = settings.watchtower_api_token
    client = ApiClient(
        settings.watchtower_dashboard_api_url,
        token.get_secret_value() if token is not None else None,
    )
    st.sidebar.caption(
        f"API: {client.base_url}" + (" (with token)" if client.token_set else " (no token)")
    )
    try:
        yield client
    finally:
        client.close()


def show_api_error(error: ApiError) -> None:
    """Show a failed API call as a message that states what to do, never as a stack trace."""
    if isinstance(error, ApiUnreachableError):
        st.error(error.message, icon=":material/cloud_off:")
    elif isinstance(error, ApiUnauthorizedError):
        st.error(error.message, icon=":material/lock:")
    else:
        st.error(error.message)


def show_no_runs(client: ApiClient) -> None:
    st.info(NO_RUNS_MESSAGE.format(url=client.base_url))


def parse_time(value: Any) -> datetime | None:
    """Parse an ISO 8601 time from the API; None for a missing or unreadable value."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def run_duration_seconds(run: dict[str, Any]) -> float | None:
    """Seconds from start (or trigger) to finish; None while the run has not finished."""
    start = parse_time(run.get("started_at")) or parse_time(run.get("triggered_at"))
    end = parse_time(run.get("finished_at"))
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def format_time(value: Any) -> str:
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "–"


def decision_maker(run: dict[str, Any]) -> str:
    """Format the decision maker as `backend (model)`, for example `claude (claude-sonnet-5)`."""
    maker = run.get("decision_maker") or {}
    backend = maker.get("backend")
    model = maker.get("model")
    if not backend:
        return "none (dry run)" if run.get("dry_run") else "–"
    return f"{backend} ({model})" if model else str(backend)


def token_usage(run: dict[str, Any]) -> dict[str, int]:
    """Return the run's token totals by counter name; counters the API left out are 0."""
    usage = run.get("usage") or {}
    return {str(key): int(value or 0) for key, value in usage.items()}


def total_tokens(usage: dict[str, Any] | None) -> int:
    if not usage:
        return 0
    return sum(int(value or 0) for key, value in usage.items() if key.endswith("tokens"))


def short_id(run_id: str) -> str:
    return run_id[:8]
