"""A fake Anthropic Messages API on 127.0.0.1 that replays a scripted conversation.

It speaks the wire format the official SDK expects (`POST /v1/messages`, JSON message objects with
content blocks, stop_reason and usage, JSON error bodies), so tests drive the real SDK and its retries.
Give the SDK `base_url=server.url` (without `/v1`). Every request is recorded for asserts.

    with FakeAnthropicServer([reply(text("Looking."), tool_use("run_target_drift", {}))]) as server:
        ...  # ANTHROPIC_BASE_URL=server.url

Error replies carry `retry-after-ms: 1`, so the SDK's retries wait one millisecond instead of backing
off for about half a second and more (anthropic 2.17 honours a positive `retry-after-ms` header).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {
    "input_tokens": 1200,
    "output_tokens": 80,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 1000,
}


@dataclass
class FakeReply:
    """One scripted assistant message."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))


@dataclass
class FakeError:
    """One scripted error response, such as 529 `overloaded_error` or 429 `rate_limit_error`."""

    status: int
    error_type: str
    message: str
    retry_after_ms: int = 1


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


ScriptItem = FakeReply | FakeError


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


_tool_ids = itertools.count(1)


def tool_use(name: str, arguments: Any, tool_use_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_use_id or f"toolu_fake_{next(_tool_ids):04d}",
        "name": name,
        "input": arguments,
    }


def reply(
    *blocks: dict[str, Any], stop_reason: str | None = None, usage: dict[str, int] | None = None
) -> FakeReply:
    """Return a scripted message; stop_reason defaults to tool_use when a block calls a tool."""
    if stop_reason is None:
        stop_reason = (
            "tool_use" if any(block["type"] == "tool_use" for block in blocks) else "end_turn"
        )
    return FakeReply(
        content=list(blocks), stop_reason=stop_reason, usage=dict(usage or DEFAULT_USAGE)
    )


def overloaded() -> FakeError:
    return FakeError(529, "overloaded_error", "Overloaded")


def rate_limited() -> FakeError:
    return FakeError(429, "rate_limit_error", "Number of requests has exceeded your rate limit")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: the requests are recorded, and headers hold the test's dummy key.
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        fake = self.server.fake
        item = fake.record(RecordedRequest(self.path, dict(self.headers.items()), body))
        if self.path.split("?")[0] != "/v1/messages":
            self._send(
                404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}}
            )
        elif item is None:
            message = "the fake server's script has no reply left for this request"
            self._send(
                500,
                {"type": "error", "error": {"type": "api_error", "message": message}},
                {"x-should-retry": "false"},
            )
        elif isinstance(item, FakeError):
            payload = {"type": "error", "error": {"type": item.error_type, "message": item.message}}
            self._send(item.status, payload, {"retry-after-ms": str(item.retry_after_ms)})
        else:
            self._send(200, fake.message(item, body))

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_fake_{self.server.fake.request_count:04d}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    fake: FakeAnthropicServer
    daemon_threads = True


class FakeAnthropicServer:
    """Serve `script` in order, one item per request; `repeat` serves its item once the script is spent."""

    def __init__(self, script: list[ScriptItem], *, repeat: ScriptItem | None = None) -> None:
        self._script = list(script)
        self._repeat = repeat
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-anthropic",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def message_requests(self) -> list[dict[str, Any]]:
        """Return the JSON bodies of the requests to /v1/messages, in order."""
        return [item.body for item in self.requests if item.path.startswith("/v1/messages")]

    def record(self, request: RecordedRequest) -> ScriptItem | None:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.pop(0)
            return self._repeat

    def message(self, item: FakeReply, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"msg_fake_{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model", "claude-fake"),
            "content": item.content,
            "stop_reason": item.stop_reason,
            "stop_sequence": None,
            "usage": item.usage,
        }

    def start(self) -> FakeAnthropicServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
