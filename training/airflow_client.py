"""A client for the Airflow REST API that triggers a DAG run and follows it to its end.

Airflow 3 serves `/api/v2` and authenticates with a bearer token from `POST /auth/token`; Airflow 2
serves `/api/v1` with basic auth (`AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth`).
The version is detected from the server unless it is set. Triggering is idempotent: the caller picks
the DAG run id, and a 409 (run id already exists) means the client follows the existing run.

Neither the password nor the token appears in logs, exceptions or `repr`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from watchtower.settings import Settings

logger = logging.getLogger(__name__)

ApiVersion = Literal["v1", "v2"]
DagRunState = Literal["queued", "running", "success", "failed"]

FINISHED_STATES: frozenset[str] = frozenset({"success", "failed"})
# The poll interval grows by this factor after each poll, up to MAX_POLL_INTERVAL_SECONDS.
POLL_BACKOFF_FACTOR = 1.5
MAX_POLL_INTERVAL_SECONDS = 60.0
# Connection errors and 5xx responses while polling are tolerated this many times in a row.
MAX_CONSECUTIVE_POLL_ERRORS = 5


class AirflowError(RuntimeError):
    """Raised when the Airflow server rejects a request or cannot be reached."""


class AirflowAuthError(AirflowError):
    """Raised when Airflow rejects the configured credentials."""


class AirflowRequestError(AirflowError):
    """Raised when Airflow returns an error status; `detail` is the server's explanation."""

    def __init__(self, message: str, *, status_code: int, detail: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class DagPausedError(AirflowError):
    """Raised when the DAG is paused and unpausing it is not allowed."""


class DagRunTimeoutError(AirflowError, TimeoutError):
    """Raised when a DAG run has not finished within the timeout."""


@dataclass(frozen=True)
class DagRun:
    """One DAG run as the client sees it."""

    dag_id: str
    dag_run_id: str
    state: str
    url: str
    # False when the run already existed (409 on trigger) and the client reused it.
    created: bool = True
    conf: dict[str, Any] = field(default_factory=dict)
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


def _error_detail(response: httpx.Response) -> str:
    """Return the server's explanation of an error response: FastAPI's `detail` or the body text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000]
    if isinstance(body, dict):
        for key in ("detail", "title", "error"):
            if key in body:
                return str(body[key])
    return str(body)[:2000]


def _redact_userinfo(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)


def _quote(value: str) -> str:
    return quote(value, safe="")


class AirflowClient:
    """Trigger and follow DAG runs on Airflow 3 (`/api/v2`) or Airflow 2 (`/api/v1`).

    Parameters
    ----------
    base_url
        The server's root URL, such as `http://127.0.0.1:8080`, without `/api/...`.
    api_version
        `"auto"` detects the version from the server on the first request.
    transport
        An httpx transport; tests pass `httpx.MockTransport`.
    sleep, clock
        Injected so tests can poll without waiting.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: SecretStr | str,
        *,
        api_version: Literal["auto", "v1", "v2"] = "auto",
        unpause_dag: bool = True,
        poll_interval_seconds: float = 5.0,
        request_timeout_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)
        self._version: ApiVersion | None = None if api_version == "auto" else api_version
        self.unpause_dag = unpause_dag
        self.poll_interval_seconds = poll_interval_seconds
        self._token: str | None = None
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.base_url, timeout=request_timeout_seconds, transport=transport
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> AirflowClient:
        return cls(
            settings.airflow_api_url,
            settings.airflow_username,
            settings.airflow_password,
            api_version=settings.airflow_api_version,
            unpause_dag=settings.airflow_unpause_dag,
            poll_interval_seconds=settings.airflow_poll_interval_seconds,
            request_timeout_seconds=settings.airflow_request_timeout_seconds,
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"AirflowClient(base_url={self.base_url!r}, username={self.username!r}, "
            f"api_version={self._version or 'auto'!r})"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Transport, logging and secrets

    def _scrub(self, text: str) -> str:
        """Replace the password and the token in `text`, in case a server echoes them back."""
        for secret in (self._password.get_secret_value(), self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request and log method, URL, status and duration, never headers or bodies."""
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            elapsed = time.perf_counter() - started
            url = _redact_userinfo(self._http.base_url.join(path))
            logger.info(
                "airflow %s %s -> %s after %.3f s", method, url, type(exc).__name__, elapsed
            )
            raise AirflowError(
                f"could not reach Airflow at {self.base_url}: {self._scrub(str(exc))}; "
                "check AIRFLOW_API_URL and that the API server is running"
            ) from None
        elapsed = time.perf_counter() - started
        url = _redact_userinfo(response.request.url)
        logger.info("airflow %s %s -> %s in %.3f s", method, url, response.status_code, elapsed)
        return response

    def _fetch_token(self) -> str:
        response = self._send(
            "POST",
            "/auth/token",
            json={"username": self.username, "password": self._password.get_secret_value()},
        )
        if response.status_code in (200, 201):
            token = response.json().get("access_token")
            if token:
                return str(token)
        # The body of a rejected login can echo the submitted password, so it is left out.
        raise AirflowAuthError(
            f"Airflow at {self.base_url} rejected the login of user {self.username!r} on /auth/token "
            f"(HTTP {response.status_code}); check AIRFLOW_USERNAME and AIRFLOW_PASSWORD"
        )

    def _auth(self) -> httpx.Auth | None:
        if self.api_version == "v1":
            return httpx.BasicAuth(self.username, self._password.get_secret_value())
        return None

    def _headers(self) -> dict[str, str]:
        if self.api_version == "v2":
            if self._token is None:
                self._token = self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}
        return {}

    def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call `/api/{version}{path}`; on Airflow 3 a 401 gets a new token and one retry."""
        full_path = f"/api/{self.api_version}{path}"
        response = self._send(
            method, full_path, headers=self._headers(), auth=self._auth(), **kwargs
        )
        if response.status_code == 401 and self.api_version == "v2":
            logger.info(
                "airflow token rejected on %s %s; requesting a new token", method, full_path
            )
            self._token = None
            response = self._send(method, full_path, headers=self._headers(), **kwargs)
        if response.status_code == 401:
            raise AirflowAuthError(
                f"Airflow at {self.base_url} rejected the credentials of user {self.username!r} "
                f"on {method} {full_path} (HTTP 401); check AIRFLOW_USERNAME and AIRFLOW_PASSWORD"
            )
        return response

    def _raise_for_status(self, response: httpx.Response, action: str) -> None:
        if response.is_success:
            return
        detail = self._scrub(_error_detail(response))
        raise AirflowRequestError(
            f"Airflow rejected {action} (HTTP {response.status_code}): {detail}",
            status_code=response.status_code,
            detail=detail,
        )

    # Version

    @property
    def api_version(self) -> ApiVersion:
        if self._version is None:
            self._version = self.detect_api_version()
        return self._version

    def detect_api_version(self) -> ApiVersion:
        """Detect the REST API version: Airflow 3 serves `/api/v2/version`, Airflow 2 `/api/v1/version`.

        Airflow 3 returns 404 on every `/api/v1` path and Airflow 2 on every `/api/v2` path, so a
        version is taken as served when its version endpoint returns any status but 404.
        """
        for version in ("v2", "v1"):
            response = self._send("GET", f"/api/{version}/version")
            if response.status_code != 404:
                logger.info("airflow at %s serves /api/%s", self.base_url, version)
                return version  # type: ignore[return-value]
        raise AirflowError(
            f"{self.base_url} serves neither /api/v2/version nor /api/v1/version; check "
            "AIRFLOW_API_URL (the server root, without /api) or set AIRFLOW_API_VERSION"
        )

    # DAGs and DAG runs

    def _dag_run_url(self, dag_id: str, dag_run_id: str) -> str:
        if self.api_version == "v2":
            return f"{self.base_url}/dags/{_quote(dag_id)}/runs/{_quote(dag_run_id)}"
        return f"{self.base_url}/dags/{_quote(dag_id)}/grid?dag_run_id={_quote(dag_run_id)}"

    def _to_dag_run(self, dag_id: str, body: dict[str, Any], *, created: bool) -> DagRun:
        dag_run_id = str(body.get("dag_run_id"))
        return DagRun(
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            state=str(body.get("state")),
            url=self._dag_run_url(dag_id, dag_run_id),
            created=created,
            conf=body.get("conf") or {},
        )

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        response = self._api("GET", f"/dags/{_quote(dag_id)}")
        if response.status_code == 404:
            raise AirflowRequestError(
                f"DAG {dag_id!r} was not found on {self.base_url}; check RETRAIN_DAG_ID and that the "
                "DAG file is in the DAGs folder and parses without errors",
                status_code=404,
                detail=self._scrub(_error_detail(response)),
            )
        self._raise_for_status(response, f"GET of DAG {dag_id!r}")
        body: dict[str, Any] = response.json()
        return body

    def list_import_errors(self) -> list[dict[str, Any]]:
        """Return the DAG files that failed to parse, with the error of each."""
        response = self._api("GET", "/importErrors", params={"limit": 100})
        self._raise_for_status(response, "listing DAG import errors")
        errors: list[dict[str, Any]] = response.json().get("import_errors", [])
        return errors

    def set_paused(self, dag_id: str, paused: bool) -> None:
        params = {"update_mask": "is_paused"} if self.api_version == "v1" else None
        response = self._api(
            "PATCH", f"/dags/{_quote(dag_id)}", json={"is_paused": paused}, params=params
        )
        self._raise_for_status(response, f"{'pausing' if paused else 'unpausing'} DAG {dag_id!r}")

    def ensure_unpaused(self, dag_id: str) -> None:
        """Unpause the DAG when it is paused and unpausing is allowed, else raise `DagPausedError`."""
        if not self.get_dag(dag_id).get("is_paused"):
            return
        if not self.unpause_dag:
            raise DagPausedError(
                f"DAG {dag_id!r} is paused on {self.base_url}, so a triggered run would never start; "
                "unpause it in Airflow or set AIRFLOW_UNPAUSE_DAG=true"
            )
        logger.info("unpausing DAG %s on %s", dag_id, self.base_url)
        self.set_paused(dag_id, False)

    def trigger_body(self, dag_run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """Build the trigger request body for the server's API version.

        Airflow 3 rejects a body without `logical_date` (422), and Airflow 2 rejects unknown fields
        (400), so `logical_date: null` is sent to `/api/v2` only.
        """
        if self.api_version == "v2":
            return {"dag_run_id": dag_run_id, "logical_date": None, "conf": conf}
        return {"dag_run_id": dag_run_id, "conf": conf}

    def trigger_dag_run(self, dag_id: str, dag_run_id: str, conf: dict[str, Any]) -> DagRun:
        """Start a DAG run with `dag_run_id`, or return the existing run when that id is taken."""
        self.ensure_unpaused(dag_id)
        body = self.trigger_body(dag_run_id, conf)
        response = self._api("POST", f"/dags/{_quote(dag_id)}/dagRuns", json=body)
        if response.status_code == 409:
            logger.info("DAG run %s of %s already exists; following it", dag_run_id, dag_id)
            return replace(self.get_dag_run(dag_id, dag_run_id), created=False)
        self._raise_for_status(
            response, f"the trigger of DAG {dag_id!r} with run id {dag_run_id!r}"
        )
        dag_run = self._to_dag_run(dag_id, response.json(), created=True)
        logger.info("triggered DAG run %s of %s, state %s", dag_run_id, dag_id, dag_run.state)
        return dag_run

    def get_dag_run(self, dag_id: str, dag_run_id: str) -> DagRun:
        response = self._api("GET", f"/dags/{_quote(dag_id)}/dagRuns/{_quote(dag_run_id)}")
        self._raise_for_status(response, f"GET of DAG run {dag_run_id!r} of {dag_id!r}")
        return self._to_dag_run(dag_id, response.json(), created=True)

    def failed_task_ids(self, dag_id: str, dag_run_id: str) -> list[str]:
        """Return the ids of the run's task instances in state `failed`, sorted."""
        response = self._api(
            "GET",
            f"/dags/{_quote(dag_id)}/dagRuns/{_quote(dag_run_id)}/taskInstances",
            params={"limit": 100},
        )
        self._raise_for_status(response, f"listing the task instances of DAG run {dag_run_id!r}")
        instances = response.json().get("task_instances", [])
        return sorted({str(item["task_id"]) for item in instances if item.get("state") == "failed"})

    def _poll_once(self, dag_id: str, dag_run_id: str, errors_in_a_row: int) -> DagRun | None:
        """Fetch the run once; return None after a transient error that polling should survive."""
        try:
            return self.get_dag_run(dag_id, dag_run_id)
        except AirflowAuthError:
            raise
        except AirflowError as exc:
            transient = not isinstance(exc, AirflowRequestError) or exc.status_code >= 500
            if not transient or errors_in_a_row + 1 >= MAX_CONSECUTIVE_POLL_ERRORS:
                raise
            logger.warning(
                "polling DAG run %s of %s failed (%s); retrying", dag_run_id, dag_id, exc
            )
            return None

    def wait_for_dag_run(self, dag_id: str, dag_run_id: str, timeout_seconds: float) -> DagRun:
        """Poll the run until it succeeds or fails, with a growing interval.

        A failed run is returned with the ids of its failed tasks. Raises `DagRunTimeoutError` when
        the run is still queued or running after `timeout_seconds`.
        """
        deadline = self._clock() + timeout_seconds
        interval = self.poll_interval_seconds
        errors_in_a_row = 0
        last_state = "unknown"
        while True:
            dag_run = self._poll_once(dag_id, dag_run_id, errors_in_a_row)
            errors_in_a_row = 0 if dag_run is not None else errors_in_a_row + 1
            if dag_run is not None:
                last_state = dag_run.state
                if dag_run.state == "failed":
                    failed = self.failed_task_ids(dag_id, dag_run_id)
                    return replace(dag_run, failed_tasks=failed)
                if dag_run.finished:
                    return dag_run
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise DagRunTimeoutError(
                    f"DAG run {dag_run_id!r} of {dag_id!r} did not finish within "
                    f"{timeout_seconds:g} s (last state: {last_state}); raise RETRAIN_TIMEOUT_SECONDS "
                    f"or check the run at {self._dag_run_url(dag_id, dag_run_id)}"
                )
            self._sleep(min(interval, remaining))
            max_interval = max(MAX_POLL_INTERVAL_SECONDS, self.poll_interval_seconds)
            interval = min(interval * POLL_BACKOFF_FACTOR, max_interval)
