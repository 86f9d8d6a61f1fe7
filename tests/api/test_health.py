from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.run_store import RunStore
from tests.api.apikit import build_app, free_port, make_settings


class _HealthHandler(BaseHTTPRequestHandler):
    status_code = 200

    def do_GET(self) -> None:  # noqa: N802 (the http.server hook name)
        code = self.status_code if self.path == "/health" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_mlflow() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _health(tmp_path: Path, **overrides: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    settings = make_settings(tmp_path, **overrides)
    store = RunStore(settings.database_url)
    with TestClient(build_app(settings, store)) as client:
        response = client.get("/health")
    store.close()
    return response.status_code, response.json()


def test_health_ok_with_sqlite_mlflow(tmp_path: Path) -> None:
    code, body = _health(tmp_path)

    assert code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert "creates it on first use" in body["checks"]["mlflow"]["detail"]


def test_health_reads_existing_sqlite_store(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("CREATE TABLE experiments (id INTEGER)")

    code, body = _health(tmp_path)

    assert code == 200
    assert "is readable" in body["checks"]["mlflow"]["detail"]


def test_health_ok_with_http_mlflow(tmp_path: Path, fake_mlflow: str) -> None:
    code, body = _health(tmp_path, mlflow_tracking_uri=fake_mlflow)

    assert code == 200
    assert body["checks"]["mlflow"]["detail"] == f"GET {fake_mlflow}/health returned HTTP 200"


def test_health_503_when_mlflow_unhealthy(tmp_path: Path, fake_mlflow: str) -> None:
    _HealthHandler.status_code = 500
    try:
        code, body = _health(tmp_path, mlflow_tracking_uri=fake_mlflow)
    finally:
        _HealthHandler.status_code = 200

    assert code == 503
    assert body["status"] == "unavailable"
    assert "HTTP 500" in body["checks"]["mlflow"]["detail"]


def test_health_503_when_mlflow_down(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"

    code, body = _health(tmp_path, mlflow_tracking_uri=uri)

    assert code == 503
    assert body["checks"]["mlflow"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_health_503_when_folder_missing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}"

    code, body = _health(tmp_path, mlflow_tracking_uri=uri)

    assert code == 503
    assert "folder is not writable" in body["checks"]["mlflow"]["detail"]


def test_health_503_when_database_fails(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = RunStore(settings.database_url)

    def broken_ping() -> None:
        raise ConnectionError("database went away")

    store.ping = broken_ping  # type: ignore[method-assign]
    with TestClient(build_app(settings, store)) as client:
        response = client.get("/health")
    store.close()

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["detail"] == "ConnectionError: database went away"
