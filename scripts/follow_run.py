#!/usr/bin/env python3
"""Start a watchtower pipeline run over HTTP, follow it to the end and print its outcome.

Used by the scheduled GitHub workflow, and usable from any shell or scheduler. Standard library only,
so it runs on a bare CI runner without installing the project.

    WATCHTOWER_API_TOKEN=... python scripts/follow_run.py --url https://watchtower.example \\
        --trigger-source github_manual --dry-run

The token is read from the WATCHTOWER_API_TOKEN environment variable (never from the command line,
where other users of the machine could see it) and sent as a bearer token. It is never printed.

Exit codes: 0 the run completed, 1 the run failed or was interrupted, 2 invalid arguments,
3 the run did not finish before --timeout, 4 the API rejected a request or could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

EXIT_COMPLETED = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
EXIT_API_ERROR = 4

FINAL_STATUSES = {"completed", "failed", "interrupted"}
# Polling gives up after this many consecutive connection errors or 5xx responses.
MAX_CONSECUTIVE_POLL_ERRORS = 5
STEP_TEXT_LIMIT = 300


class ApiError(Exception):
    """An HTTP request to the watchtower API failed; `retryable` marks connection errors and 5xx."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read().decode("utf-8", "replace"))
    except (ValueError, OSError):
        return error.reason if isinstance(error.reason, str) else ""
    if not isinstance(body, dict):
        return json.dumps(body)
    detail = body.get("detail")
    text = detail if isinstance(detail, str) else json.dumps(detail)
    if body.get("active_run_id"):
        # A 409 from POST /pipeline/run names the run that is already active.
        text += f" (active run {body['active_run_id']})"
    return text


def request_json(
    method: str, url: str, token: str | None, body: dict[str, Any] | None, timeout: float
) -> dict[str, Any]:
    """Send one JSON request and return the decoded JSON response, or raise `ApiError`."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)

    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        detail = _error_detail(error)
        raise ApiError(
            f"{method} {url} returned HTTP {error.code}: {detail}", retryable=error.code >= 500
        ) from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise ApiError(f"{method} {url} failed: {reason}", retryable=True) from error
    except ValueError as error:
        raise ApiError(f"{method} {url} returned a body that is not JSON: {error}") from error


def _base_url(text: str) -> str:
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"invalid --url {text!r}: give the service's http:// or https:// address, "
            "for example http://127.0.0.1:8000"
        )
    return text.strip().rstrip("/")


def _print_step(step: dict[str, Any]) -> None:
    label = str(step.get("kind", "step"))
    if step.get("tool_name"):
        label += f" {step['tool_name']}"
    text = step.get("text") or ""
    if not text and step.get("output") is not None:
        text = json.dumps(step["output"], sort_keys=True)
    if len(text) > STEP_TEXT_LIMIT:
        text = text[:STEP_TEXT_LIMIT] + "..."
    print(f"  [{step.get('seq', '?')}] {label}: {text}".rstrip(), flush=True)


def _print_new_steps(status: dict[str, Any], printed: int) -> int:
    """Print the steps after sequence number `printed` and return the last sequence number shown."""
    for step in status.get("steps") or []:
        seq = step.get("seq")
        if isinstance(seq, int) and seq > printed:
            _print_step(step)
            printed = seq
    return printed


def _write_job_summary(status: dict[str, Any]) -> None:
    """Append the outcome to the GitHub job summary when the workflow provides one."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    lines = [
        f"### watchtower run `{status.get('run_id')}`",
        "",
        f"- status: **{status.get('status')}**",
        f"- decision: **{status.get('decision')}**",
    ]
    if status.get("error"):
        lines.append(f"- error: {status['error']}")
    lines += ["", str(status.get("summary") or "(no summary)"), ""]
    with open(path, "a", encoding="utf-8") as summary_file:
        summary_file.write("\n".join(lines))


def _report(status: dict[str, Any]) -> int:
    print("")
    print(
        f"run {status.get('run_id')}: status {status.get('status')}, decision {status.get('decision')}"
    )
    if status.get("error"):
        print(f"error: {status['error']}")
    print("summary:")
    print(status.get("summary") or "(no summary)")
    _write_job_summary(status)
    failed = status.get("status") != "completed" or status.get("decision") == "failed"
    return EXIT_RUN_FAILED if failed else EXIT_COMPLETED


def follow(
    base_url: str, run_id: str, token: str | None, timeout: float, poll_interval: float
) -> int:
    """Poll the run's status until it ends or `timeout` seconds pass; return the exit code."""
    status_url = f"{base_url}/pipeline/status/{urllib.parse.quote(run_id, safe='')}"
    deadline = time.monotonic() + timeout
    printed = 0
    errors = 0
    while True:
        try:
            status = request_json("GET", status_url, token, None, timeout=30.0)
            errors = 0
        except ApiError as error:
            errors += 1
            if not error.retryable or errors >= MAX_CONSECUTIVE_POLL_ERRORS:
                print(f"error: {error}", file=sys.stderr)
                return EXIT_API_ERROR
            print(
                f"warning: {error}; retrying ({errors}/{MAX_CONSECUTIVE_POLL_ERRORS})",
                file=sys.stderr,
            )
        else:
            printed = _print_new_steps(status, printed)
            if status.get("status") in FINAL_STATUSES:
                return _report(status)

        if time.monotonic() >= deadline:
            print(
                f"error: run {run_id} did not finish within {timeout:g} s; it may still be running, "
                f"so check {status_url}",
                file=sys.stderr,
            )
            return EXIT_TIMED_OUT
        time.sleep(poll_interval)


def start_run(base_url: str, token: str | None, trigger_source: str, dry_run: bool) -> str:
    """Start a run with `POST /pipeline/run` and return its id."""
    body = {"trigger_source": trigger_source, "dry_run": dry_run}
    started = request_json("POST", f"{base_url}/pipeline/run", token, body, timeout=30.0)
    run_id = started.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ApiError(f"POST {base_url}/pipeline/run returned no run_id: {started}")
    print(f"started run {run_id} (trigger_source={trigger_source}, dry_run={dry_run})", flush=True)
    return run_id


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("WATCHTOWER_URL", ""),
        help="base URL of the watchtower service (default: the WATCHTOWER_URL environment variable)",
    )
    parser.add_argument(
        "--trigger-source",
        default="manual_script",
        help="who started the run, stored in its audit trail (default: manual_script)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="stop the run after drift detection, with no retraining",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds to wait for the run to end (default: 3600)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=10.0,
        help="seconds between status requests (default: 10)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.url:
        print("error: no service URL; pass --url or set WATCHTOWER_URL", file=sys.stderr)
        return EXIT_USAGE
    if args.timeout <= 0 or args.poll_interval <= 0:
        print(
            "error: --timeout and --poll-interval must be positive numbers of seconds",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        base_url = _base_url(args.url)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    token = os.environ.get("WATCHTOWER_API_TOKEN") or None
    if token is None:
        print(
            "warning: WATCHTOWER_API_TOKEN is not set; sending requests without a token",
            file=sys.stderr,
        )
    try:
        run_id = start_run(base_url, token, args.trigger_source, args.dry_run)
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_API_ERROR
    return follow(base_url, run_id, token, args.timeout, args.poll_interval)


if __name__ == "__main__":
    sys.exit(main())
