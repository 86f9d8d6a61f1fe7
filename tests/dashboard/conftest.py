"""Fixtures of the dashboard tests: real API servers on 127.0.0.1 (see `live_api`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_api import (
    API_TOKEN,
    ApiServer,
    SeededApi,
    start_api,
    start_run,
    stop_process,
    wait_for_run,
)


@pytest.fixture(scope="session")
def empty_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API with no runs and no token."""
    server = start_api(tmp_path_factory.mktemp("empty_api"), token=None)
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def seeded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApi]:
    """An API with a token, a finished dry run and two finished full runs (rules decision maker)."""
    server = start_api(tmp_path_factory.mktemp("seeded_api"), token=API_TOKEN)
    try:
        dry_run_id = start_run(server, dry_run=True)
        wait_for_run(server, dry_run_id)
        first_full_run_id = start_run(server, dry_run=False)
        wait_for_run(server, first_full_run_id)
        full_run_id = start_run(server, dry_run=False)
        full_run = wait_for_run(server, full_run_id)
        yield SeededApi(server, dry_run_id, first_full_run_id, full_run_id, full_run)
    finally:
        stop_process(server.process)


@pytest.fixture
def dashboard_env(monkeypatch: pytest.MonkeyPatch):
    """Point the dashboard (run in-process by AppTest) at a server, with an optional token."""

    def configure(server: ApiServer, token: str | None) -> None:
        monkeypatch.chdir(server.log_path.parent)
        monkeypatch.setenv("WATCHTOWER_DASHBOARD_API_URL", server.url)
        monkeypatch.setenv("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
        if token:
            monkeypatch.setenv("WATCHTOWER_API_TOKEN", token)
        else:
            monkeypatch.delenv("WATCHTOWER_API_TOKEN", raising=False)

    return configure
