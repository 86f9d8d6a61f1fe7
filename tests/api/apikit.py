"""Helpers for the API tests: settings in a temporary folder, a gated launcher, a real uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.run_store import RunStore
from agent.steps import Decision, RunStatus, StepKind
from api.main import create_app
from watchtower.settings import Settings


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'runs.db'}",
        "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "data_source": "synthetic",
        "synthetic_rows": 300,
        "watchtower_api_token": None,
        "anthropic_api_key": None,
        "agent_backend": "rules",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class GatedLauncher:
    """A launcher that writes scripted steps in a thread once the test opens its gate."""

    def __init__(self, store: RunStore, steps: int = 3) -> None:
        self.store = store
        self.steps = steps
        self.gate = threading.Event()
        self.threads: list[threading.Thread] = []
        self.requests: list[dict[str, Any]] = []

    def submit(self, run_id: str, settings: Settings, request: dict[str, Any]) -> None:
        self.requests.append(request)
        thread = threading.Thread(target=self._run, args=(run_id,), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _run(self, run_id: str) -> None:
        self.store.mark_started(run_id)
        self.gate.wait(timeout=30)
        for index in range(self.steps):
            self.store.add_step(run_id, StepKind.LLM_REASONING, text=f"thought {index}")
        self.store.finish_run(run_id, RunStatus.COMPLETED, Decision.NO_ACTION, summary="done")

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)


def build_app(settings: Settings, store: RunStore, **kwargs: Any) -> FastAPI:
    kwargs.setdefault("stream_poll_seconds", 0.1)
    return create_app(settings, store, **kwargs)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` on a real uvicorn at 127.0.0.1 in a thread and yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Yield each server-sent event as a dict of its fields; comment lines come as {"comment": ...}."""
    event: dict[str, str] = {}
    for line in lines:
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            event[name] = event[name] + "\n" + value if name in event else value
    if event:
        yield event


def wait_for_run(client: TestClient, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/pipeline/status/{run_id}").json()
        if body["status"] not in ("queued", "running"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise TimeoutError(f"run {run_id} did not finish within {timeout} s")
