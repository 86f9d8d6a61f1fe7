"""A small synchronous client for the watchtower API, used by every dashboard page.

The dashboard never opens the run store itself: every figure it shows comes through these calls.
Failures become `ApiError` subclasses whose `message` states what went wrong and what to do, so a page
can show it as it is instead of a stack trace.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
# The server sends heartbeats on idle streams, so a read that waits this long means a lost connection.
STREAM_READ_TIMEOUT_SECONDS = 60.0
HISTORY_PAGE_SIZE = 100


class ApiError(Exception):
    """A failed API call, with a message written for the person looking at the dashboard."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ApiUnreachableError(ApiError):
    """No HTTP response: connection refused, DNS failure or timeout."""


class ApiUnauthorizedError(ApiError):
    """The API returned 401 or 403 because the token is missing or wrong."""


class ApiNotFoundError(ApiError):
    """The API returned 404 because the run, or its report, does not exist."""


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: `id` is the step's sequence number for step events."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


def _detail_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:300]


def _unauthorized_message(base_url: str, token_set: bool, status_code: int) -> str:
    if token_set:
        return (
            f"The API at {base_url} rejected the token ({status_code}). Set WATCHTOWER_API_TOKEN "
            "to the token the API was started with, then restart the dashboard."
        )
    return (
        f"The API at {base_url} requires a token ({status_code}). Set WATCHTOWER_API_TOKEN to the "
        "token the API was started with, then restart the dashboard."
    )


def _unreachable_message(base_url: str, error: Exception) -> str:
    return (
        f"Cannot reach the API at {base_url} ({type(error).__name__}: {error}). Start it with "
        "`watchtower serve` or `uvicorn api.main:app`, or point the dashboard at the right address "
        "with `watchtower dashboard --api-url URL` (setting WATCHTOWER_DASHBOARD_API_URL)."
    )


def parse_sse_lines(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Group the lines of a `text/event-stream` body into events.

    Follows the HTML event-stream format: `field: value` lines, a blank line ends an event, lines
    starting with `:` are comments (heartbeats), and several `data` lines join with newlines. An
    event without a name is a `message` event.
    """
    event_name = ""
    data_lines: list[str] = []
    event_id: str | None = None
    for raw_line in lines:
        line = raw_line.rstrip("\r")
        if line == "":
            if data_lines or event_name:
                yield SseEvent(
                    event=event_name or "message", data="\n".join(data_lines), id=event_id
                )
            event_name, data_lines, event_id = "", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event_name = value
        elif field == "data":
            data_lines.append(value)
        elif field == "id":
            event_id = value
    if data_lines:
        yield SseEvent(event=event_name or "message", data="\n".join(data_lines), id=event_id)


class ApiClient:
    """Read runs, traces and reports from the watchtower API.

    Parameters
    ----------
    base_url
        The API's root URL, for example ``http://127.0.0.1:8000``.
    token
        Bearer token sent with every request when set (the API's WATCHTOWER_API_TOKEN).
    timeout
        Seconds to wait for a response to an ordinary request.
    transport
        An httpx transport, for tests.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_set = bool(token)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _raise_for_status(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403):
            raise ApiUnauthorizedError(
                _unauthorized_message(self.base_url, self.token_set, status), status_code=status
            )
        if status == 404:
            raise ApiNotFoundError(f"Not found: {path} ({_detail_of(response)})", status_code=404)
        raise ApiError(
            f"The API returned {status} for {path}: {_detail_of(response)}", status_code=status
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        accept_statuses: tuple[int, ...] = (),
    ) -> Any:
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, params=params, json=json_body)
        except httpx.TransportError as error:
            logger.warning("%s %s%s failed: %s", method, self.base_url, path, error)
            raise ApiUnreachableError(_unreachable_message(self.base_url, error)) from error
        logger.info(
            "%s %s%s -> %s in %.0f ms",
            method,
            self.base_url,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        if response.status_code not in accept_statuses:
            self._raise_for_status(response, path)
        try:
            return response.json()
        except ValueError as error:
            raise ApiError(
                f"The API responded to {method} {path} with a body that is not JSON. Check that "
                f"{self.base_url} is the watchtower API and not another service.",
                status_code=response.status_code,
            ) from error

    def health(self) -> dict[str, Any]:
        """Return the health body; a 503 (a store is down) is returned too, not raised."""
        body = self._request("GET", "/health", accept_statuses=(503,))
        return body if isinstance(body, dict) else {"status": "unknown", "body": body}

    def list_runs(
        self, *, status: str | None = None, limit: int = HISTORY_PAGE_SIZE, offset: int = 0
    ) -> dict[str, Any]:
        """Return one page of run history, newest first, as the API sends it."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        body = self._request("GET", "/pipeline/history", params=params)
        return body if isinstance(body, dict) else {"items": body}

    def all_runs(self, *, status: str | None = None, max_runs: int = 500) -> list[dict[str, Any]]:
        """Walk the history pages and return up to `max_runs` runs, newest first."""
        runs: list[dict[str, Any]] = []
        while len(runs) < max_runs:
            limit = min(HISTORY_PAGE_SIZE, max_runs - len(runs))
            page = self.list_runs(status=status, limit=limit, offset=len(runs))
            items = list(page.get("items") or [])
            runs.extend(items)
            total = page.get("total")
            if len(items) < limit or (isinstance(total, int) and len(runs) >= total):
                break
        return runs

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Return the run with its full ordered trace (`steps`)."""
        body = self._request("GET", f"/pipeline/status/{run_id}")
        return body if isinstance(body, dict) else {}

    def _report(self, path: str) -> dict[str, Any] | None:
        try:
            body = self._request("GET", path)
        except ApiNotFoundError:
            return None
        # The API wraps each report as {"run_id", "created_at", "report"}.
        report = body.get("report") if isinstance(body, dict) else None
        return report if isinstance(report, dict) else None

    def drift_report(self, run_id: str) -> dict[str, Any] | None:
        """Return the run's drift report (`DriftReport.to_dict()`), or None when it has none."""
        return self._report(f"/reports/drift/{run_id}")

    def eval_report(self, run_id: str) -> dict[str, Any] | None:
        """Return the run's evaluation report (`EvalReport.to_dict()`), or None when it has none."""
        return self._report(f"/reports/eval/{run_id}")

    def stream_steps(self, run_id: str, *, last_event_id: int | None = None) -> Iterator[SseEvent]:
        """Follow the run's event stream, resuming after step `last_event_id` when given.

        Yields every event, the final `end` event included, and stops when the server closes the
        stream.
        """
        path = f"/pipeline/status/{run_id}/stream"
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
        try:
            with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
                logger.info("GET %s%s -> %s (stream)", self.base_url, path, response.status_code)
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_status(response, path)
                yield from parse_sse_lines(response.iter_lines())
        except httpx.TransportError as error:
            logger.warning("stream %s%s ended: %s", self.base_url, path, error)
            raise ApiUnreachableError(_unreachable_message(self.base_url, error)) from error
