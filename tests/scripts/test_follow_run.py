"""scripts/follow_run.py against a scripted watchtower API on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "follow_run.py"
TOKEN = "test-token-7f3a"


def _load_script():
    spec = importlib.util.spec_from_file_location("follow_run", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


follow_run = _load_script()


@dataclass
class FakeApi:
    """Scripted responses: one for the POST, then one status per GET (the last one repeats)."""

    start: tuple[int, dict[str, Any]] = (200, {"run_id": "run-1", "status": "running"})
    statuses: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def next_status(self) -> tuple[int, dict[str, Any]]:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            api.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )

        def do_POST(self) -> None:
            self._record()
            self._send(*api.start)

        def do_GET(self) -> None:
            self._record()
            self._send(*api.next_status())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api() -> Iterator[tuple[FakeApi, str]]:
    fake = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _status(
    status: str, decision: str | None = None, steps: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "run_id": "run-1",
        "status": status,
        "decision": decision,
        "error": extra.get("error"),
        "summary": extra.get("summary"),
        "steps": [
            {"seq": seq, "kind": "status", "tool_name": None, "text": f"step {seq}", "output": None}
            for seq in range(1, steps + 1)
        ],
    }


def _run(url: str, *extra: str) -> int:
    return follow_run.main(["--url", url, "--poll-interval", "0.01", "--timeout", "30", *extra])


def test_follow_completed_run_exits_zero(api, monkeypatch, capsys) -> None:
    fake, url = api
    monkeypatch.setenv("WATCHTOWER_API_TOKEN", TOKEN)
    fake.statuses = [
        (200, _status("running", steps=1)),
        (200, _status("completed", "promoted", steps=3, summary="Promoted version 2.")),
    ]
    code = _run(url, "--trigger-source", "github_schedule")
    output = capsys.readouterr().out
    assert code == 0
    assert "decision promoted" in output
    assert "Promoted version 2." in output
    assert output.count("step 1") == 1
    assert "step 3" in output


def test_follow_posts_trigger_and_token(api, monkeypatch, capsys) -> None:
    fake, url = api
    monkeypatch.setenv("WATCHTOWER_API_TOKEN", TOKEN)
    fake.statuses = [(200, _status("completed", "no_action"))]
    _run(url, "--trigger-source", "github_manual", "--dry-run")
    post = fake.requests[0]
    assert post["method"] == "POST"
    assert post["path"] == "/pipeline/run"
    assert post["body"] == {"trigger_source": "github_manual", "dry_run": True}
    assert post["authorization"] == f"Bearer {TOKEN}"
    assert fake.requests[1]["path"] == "/pipeline/status/run-1"
    assert fake.requests[1]["authorization"] == f"Bearer {TOKEN}"
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_follow_failed_run_exits_one(api, capsys) -> None:
    fake, url = api
    fake.statuses = [(200, _status("failed", "failed", error="data loader failed"))]
    assert _run(url) == 1
    assert "error: data loader failed" in capsys.readouterr().out


def test_follow_interrupted_run_exits_one(api) -> None:
    fake, url = api
    fake.statuses = [(200, _status("interrupted"))]
    assert _run(url) == 1


def test_follow_times_out(api, capsys) -> None:
    fake, url = api
    fake.statuses = [(200, _status("running"))]
    code = follow_run.main(["--url", url, "--poll-interval", "0.01", "--timeout", "0.05"])
    assert code == 3
    assert "did not finish within 0.05 s" in capsys.readouterr().err


def test_follow_retries_server_errors(api) -> None:
    fake, url = api
    fake.statuses = [
        (503, {"detail": "restarting"}),
        (503, {"detail": "restarting"}),
        (200, _status("completed", "no_action")),
    ]
    assert _run(url) == 0
    assert len(fake.requests) == 4


def test_follow_gives_up_after_repeated_errors(api, capsys) -> None:
    fake, url = api
    fake.statuses = [(502, {"detail": "bad gateway"})]
    assert _run(url) == 4
    assert len(fake.requests) == 1 + follow_run.MAX_CONSECUTIVE_POLL_ERRORS
    assert "HTTP 502: bad gateway" in capsys.readouterr().err


def test_follow_rejected_token_exits_four(api, capsys) -> None:
    fake, url = api
    fake.start = (401, {"detail": "invalid or missing bearer token"})
    assert _run(url) == 4
    assert "HTTP 401: invalid or missing bearer token" in capsys.readouterr().err


def test_follow_conflict_names_active_run(api, capsys) -> None:
    fake, url = api
    fake.start = (409, {"detail": "a run is already active", "active_run_id": "run-0"})
    assert _run(url) == 4
    assert "(active run run-0)" in capsys.readouterr().err


def test_follow_unreachable_service(capsys) -> None:
    # A port that was just free and is closed again, so the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert follow_run.main(["--url", url, "--timeout", "1"]) == 4
    assert f"POST {url}/pipeline/run failed" in capsys.readouterr().err


def test_follow_requires_url(monkeypatch, capsys) -> None:
    monkeypatch.delenv("WATCHTOWER_URL", raising=False)
    assert follow_run.main([]) == 2
    assert "pass --url or set WATCHTOWER_URL" in capsys.readouterr().err


def test_follow_rejects_non_http_url(capsys) -> None:
    assert follow_run.main(["--url", "ftp://127.0.0.1/x"]) == 2
    assert "invalid --url 'ftp://127.0.0.1/x'" in capsys.readouterr().err


def test_follow_writes_job_summary(api, monkeypatch, tmp_path) -> None:
    fake, url = api
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    fake.statuses = [(200, _status("completed", "no_action", summary="No harmful drift."))]
    _run(url)
    text = summary.read_text()
    assert "decision: **no_action**" in text
    assert "No harmful drift." in text


def test_follow_script_runs_as_command(api, tmp_path) -> None:
    fake, url = api
    fake.statuses = [(200, _status("completed", "no_action", summary="Nothing to do."))]
    env = {"PATH": "/usr/bin:/bin", "WATCHTOWER_URL": url, "WATCHTOWER_API_TOKEN": TOKEN}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--poll-interval", "0.01", "--timeout", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "Nothing to do." in result.stdout
    assert TOKEN not in result.stdout + result.stderr
