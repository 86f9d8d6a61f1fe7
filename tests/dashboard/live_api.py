"""A real watchtower API on 127.0.0.1 for the dashboard tests, and helpers to create runs through it.

Each server is `uvicorn api.main:app` in a subprocess with its own SQLite run store and MLflow store
under tmp_path, synthetic data and the offline `rules` decision maker, so no test needs an API key or
another host.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO_ROOT / "dashboard"
API_TOKEN = "dashboard-test-token-7f3a"
SERVER_START_TIMEOUT_SECONDS = 60.0
RUN_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class ApiServer:
    url: str
    token: str | None
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quiet_environment(extra: dict[str, str]) -> dict[str, str]:
    """The test process environment with telemetry off and the watchtower variables replaced."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WATCHTOWER_", "ANTHROPIC_", "AIRFLOW_", "MLFLOW_", "DATA_"))
    }
    environment.update(
        {
            "DO_NOT_TRACK": "1",
            "MLFLOW_ENABLE_TELEMETRY": "false",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    environment.update(extra)
    return environment


def _wait_until_up(server: ApiServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the API exited with code {server.process.returncode}; log:\n"
                + server.log_path.read_text()
            )
        try:
            httpx.get(f"{server.url}/health", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(
        f"the API at {server.url} did not answer /health; log:\n{server.log_path.read_text()}"
    )


def start_api(
    workdir: Path, *, token: str | None, extra_env: dict[str, str] | None = None
) -> ApiServer:
    """Start `uvicorn api.main:app` on a free 127.0.0.1 port with stores under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = quiet_environment(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'runs.db'}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
            "MLFLOW_MODEL_NAME": "dashboard-test-model",
            "DATA_SOURCE": "synthetic",
            "SYNTHETIC_ROWS": "2000",
            "AGENT_BACKEND": "rules",
            "RETRAIN_BACKEND": "local",
            "EVAL_BOOTSTRAP_SAMPLES": "200",
            **(extra_env or {}),
        }
    )
    if token:
        environment["WATCHTOWER_API_TOKEN"] = token
    log_path = workdir / "uvicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=workdir,
            env={**environment, "PYTHONPATH": str(REPO_ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", token, process, log_path)
    try:
        _wait_until_up(server)
    except Exception:
        stop_process(process)
        raise
    return server


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start_run(server: ApiServer, *, dry_run: bool, trigger_source: str = "dashboard_test") -> str:
    with server.client() as client:
        response = client.post(
            "/pipeline/run", json={"dry_run": dry_run, "trigger_source": trigger_source}
        )
    assert response.status_code in (200, 201, 202), response.text
    return str(response.json()["run_id"])


def wait_for_run(server: ApiServer, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    with server.client() as client:
        while time.monotonic() < deadline:
            run = client.get(f"/pipeline/status/{run_id}").json()
            if run["status"] not in ("queued", "running"):
                return dict(run)
            time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish within {RUN_TIMEOUT_SECONDS} s")


@dataclass(frozen=True)
class SeededApi:
    """A server with a dry run and two full runs, oldest first.

    The MLflow store starts empty, so the first full run has no champion to compare with. The
    second one compares its challenger with the champion that the first one promoted.
    """

    server: ApiServer
    dry_run_id: str
    first_full_run_id: str
    full_run_id: str
    full_run: dict
