"""Weekly drift check: start a watchtower pipeline run and follow it to its end.

Every Monday at 09:00 UTC the task `run_drift_check` sends `POST /pipeline/run` with
`trigger_source` "airflow_schedule" to the watchtower API, polls `GET /pipeline/status/{run_id}`
until the run ends, and fails when the run fails or is interrupted, so a failed check shows up in
Airflow.

Where the API is, in order of precedence:

- Airflow Variable `watchtower_api_url`, else environment variable `WATCHTOWER_API_URL`, else
  `http://127.0.0.1:8000`.
- Bearer token (needed when the API sets `WATCHTOWER_API_TOKEN`): Airflow Variable
  `watchtower_api_token`, else environment variable `WATCHTOWER_API_TOKEN`, else none.
- How long to follow a run: Variable `watchtower_run_timeout_seconds` or the environment variable
  of the same name in upper case (default 3600).

Only the standard library's urllib talks to the API, so the DAG needs no extra packages.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

try:
    from airflow.sdk import Variable, dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.models import Variable

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_RUN_TIMEOUT_SECONDS = 3600.0
POLL_INTERVAL_SECONDS = 10.0
REQUEST_TIMEOUT_SECONDS = 30.0
TRIGGER_SOURCE = "airflow_schedule"
FAILED_STATUSES = ("failed", "interrupted")
DONE_STATUS = "completed"


def _variable(key: str) -> str | None:
    try:
        value = Variable.get(key, default=None)  # Airflow 3
    except TypeError:
        value = Variable.get(key, default_var=None)  # Airflow 2
    return None if value in (None, "") else str(value)


def setting(variable: str, env_name: str, default: str | None) -> str | None:
    """Return the Airflow Variable, else the environment variable, else the default."""
    return _variable(variable) or os.environ.get(env_name) or default


def request_json(
    method: str, url: str, token: str | None, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """Send one JSON request; return the status code and the decoded body (also for 4xx and 5xx)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode(errors="replace")
    logger.info("%s %s -> %s in %.3f s", method, url, status, time.perf_counter() - started)
    try:
        decoded = json.loads(text) if text else {}
    except json.JSONDecodeError:
        decoded = {"detail": text[:2000]}
    return status, decoded if isinstance(decoded, dict) else {"detail": decoded}


def _active_run_id(body: dict[str, Any]) -> str | None:
    """Return the id of the already active run that a 409 response names, if it names one."""
    detail = body.get("detail")
    candidates = [body, detail] if isinstance(detail, dict) else [body]
    for candidate in candidates:
        for key in ("active_run_id", "run_id"):
            if candidate.get(key):
                return str(candidate[key])
    return None


def start_run(api_url: str, token: str | None) -> str:
    """Start a pipeline run; when one is already active (409), follow that run instead."""
    status, body = request_json(
        "POST", f"{api_url}/pipeline/run", token, {"trigger_source": TRIGGER_SOURCE}
    )
    if status in (200, 201, 202):
        return str(body["run_id"])
    if status == 409 and _active_run_id(body):
        logger.info("a run is already active; following it: %s", body)
        return str(_active_run_id(body))
    if status in (401, 403):
        raise RuntimeError(
            f"watchtower API at {api_url} rejected the request (HTTP {status}); set the Airflow "
            "Variable watchtower_api_token to the API's WATCHTOWER_API_TOKEN"
        )
    raise RuntimeError(f"POST {api_url}/pipeline/run failed with HTTP {status}: {body}")


def follow_run(
    api_url: str, token: str | None, run_id: str, timeout_seconds: float
) -> dict[str, Any]:
    """Poll the run until it ends; return its status body, or raise when it failed or timed out."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        status, body = request_json("GET", f"{api_url}/pipeline/status/{run_id}", token)
        if status != 200:
            raise RuntimeError(
                f"GET {api_url}/pipeline/status/{run_id} failed with HTTP {status}: {body}"
            )
        if body.get("status") == DONE_STATUS:
            return body
        if body.get("status") in FAILED_STATUSES:
            raise RuntimeError(
                f"watchtower run {run_id} ended with status {body.get('status')}: "
                f"{body.get('error') or body.get('summary')}"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"watchtower run {run_id} was still {body.get('status')} after {timeout_seconds:g} s"
            )
        time.sleep(POLL_INTERVAL_SECONDS)


@dag(
    dag_id="watchtower_schedule",
    schedule="0 9 * * 1",
    # timezone.utc rather than datetime.UTC, which Airflow 2 deployments on Python 3.10 lack.
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),  # noqa: UP017
    catchup=False,
    max_active_runs=1,
    tags=["watchtower"],
    doc_md=__doc__,
    default_args={"retries": 0, "execution_timeout": timedelta(hours=2)},
)
def watchtower_schedule() -> None:
    @task
    def run_drift_check() -> dict[str, Any]:
        """Start a pipeline run, follow it, and return its decision and summary."""
        api_url = str(setting("watchtower_api_url", "WATCHTOWER_API_URL", DEFAULT_API_URL)).rstrip(
            "/"
        )
        token = setting("watchtower_api_token", "WATCHTOWER_API_TOKEN", None)
        timeout = float(
            setting(
                "watchtower_run_timeout_seconds",
                "WATCHTOWER_RUN_TIMEOUT_SECONDS",
                str(DEFAULT_RUN_TIMEOUT_SECONDS),
            )
            or DEFAULT_RUN_TIMEOUT_SECONDS
        )
        run_id = start_run(api_url, token)
        logger.info("following watchtower run %s at %s", run_id, api_url)
        body = follow_run(api_url, token, run_id, timeout)
        logger.info("run %s ended: decision %s", run_id, body.get("decision"))
        return {"run_id": run_id, "decision": body.get("decision"), "summary": body.get("summary")}

    run_drift_check()


watchtower_schedule()
