from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.run_store import RunStore
from tests.api.apikit import build_app, make_settings

TOKEN = "s3cret-token-for-tests"
PROTECTED = [
    ("POST", "/pipeline/run"),
    ("GET", "/pipeline/status/some-run"),
    ("GET", "/pipeline/status/some-run/stream"),
    ("GET", "/pipeline/history"),
    ("GET", "/reports/drift/latest"),
    ("GET", "/reports/drift/some-run"),
    ("GET", "/reports/eval/latest"),
    ("GET", "/reports/eval/some-run"),
]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, watchtower_api_token=TOKEN)
    store = RunStore(settings.database_url)
    with TestClient(build_app(settings, store)) as client:
        yield client
    store.close()


def test_every_endpoint_needs_token(secured: TestClient) -> None:
    for method, path in PROTECTED:
        response = secured.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer", path


def test_wrong_token_is_401(secured: TestClient) -> None:
    for header in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN):
        response = secured.get("/pipeline/history", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_right_token_is_accepted(secured: TestClient) -> None:
    response = secured.get("/pipeline/history", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200


def test_health_needs_no_token(secured: TestClient) -> None:
    assert secured.get("/health").status_code == 200


def test_401_does_not_echo_token(secured: TestClient) -> None:
    response = secured.get("/pipeline/history", headers={"Authorization": f"Bearer {TOKEN}x"})

    assert TOKEN not in response.text
