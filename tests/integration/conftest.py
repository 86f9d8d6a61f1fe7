"""A real Airflow 3 on 127.0.0.1, started once per test session with `scripts/airflow.sh`.

The server gets a free port and its own AIRFLOW_HOME under pytest's temporary folder, so it never
touches the developer's `.airflow-home` or a server already running on port 8080. Without
`.airflow-venv` the Airflow tests are skipped, except in CI (`CI=true`), where they must run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "airflow.sh"
AIRFLOW_BIN = ROOT / ".airflow-venv" / "bin" / "airflow"
START_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class AirflowServer:
    base_url: str
    home: Path
    start_seconds: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _script(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS + 60,
        check=False,
    )


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    if not AIRFLOW_BIN.exists():
        message = f"{AIRFLOW_BIN} is missing; run 'scripts/airflow.sh install' (make airflow-venv)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    port = _free_port()
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_PORT": str(port),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_START_TIMEOUT": str(START_TIMEOUT_SECONDS),
        "DO_NOT_TRACK": "1",
        "MLFLOW_ENABLE_TELEMETRY": "false",
    }
    started = time.perf_counter()
    start = _script("start", env)
    start_seconds = time.perf_counter() - started
    if start.returncode != 0:
        _script("stop", env)
        pytest.fail(f"scripts/airflow.sh start failed:\n{start.stdout}\n{start.stderr}")
    print(f"\nAirflow started on port {port} in {start_seconds:.1f} s")
    try:
        yield AirflowServer(f"http://127.0.0.1:{port}", home, start_seconds)
    finally:
        stop = _script("stop", env)
        print(stop.stderr)
