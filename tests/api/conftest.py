from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.run_store import RunStore
from api.deps import get_launcher
from tests.api.apikit import GatedLauncher, build_app, make_settings
from watchtower.settings import Settings


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_TELEMETRY", "false")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings) -> Iterator[RunStore]:
    run_store = RunStore(settings.database_url)
    yield run_store
    run_store.close()


@pytest.fixture
def client(settings: Settings, store: RunStore) -> Iterator[TestClient]:
    with TestClient(build_app(settings, store)) as test_client:
        yield test_client


@pytest.fixture
def gated(store: RunStore) -> Iterator[GatedLauncher]:
    launcher = GatedLauncher(store)
    yield launcher
    launcher.gate.set()
    launcher.join()


@pytest.fixture
def gated_client(settings: Settings, store: RunStore, gated: GatedLauncher) -> Iterator[TestClient]:
    app = build_app(settings, store)
    app.dependency_overrides[get_launcher] = lambda: gated
    with TestClient(app) as test_client:
        yield test_client
