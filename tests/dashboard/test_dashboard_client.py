"""The dashboard's API client: event-stream parsing and how HTTP failures become messages."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from dashboard.api_client import (
    ApiClient,
    ApiError,
    ApiNotFoundError,
    ApiUnauthorizedError,
    ApiUnreachableError,
    parse_sse_lines,
)


def _client(handler, token: str | None = None) -> ApiClient:
    return ApiClient("http://127.0.0.1:1", token, transport=httpx.MockTransport(handler))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sse_groups_fields_into_events():
    lines = ["id: 3", "event: step", 'data: {"seq": 3}', "", "event: end", "data: {}", ""]

    events = list(parse_sse_lines(iter(lines)))

    assert [event.event for event in events] == ["step", "end"]
    assert events[0].id == "3"
    assert events[0].json() == {"seq": 3}


def test_sse_skips_heartbeat_comments():
    lines = [": ping", "", "data: one", ""]

    events = list(parse_sse_lines(iter(lines)))

    assert len(events) == 1
    assert events[0].event == "message"


def test_sse_joins_multiline_data():
    lines = ["data: first", "data: second", ""]

    events = list(parse_sse_lines(iter(lines)))

    assert events[0].data == "first\nsecond"


def test_sse_strips_carriage_returns():
    events = list(parse_sse_lines(iter(["event: end\r", "data: {}\r", "\r"])))

    assert events[0].event == "end"


def test_sse_emits_event_without_final_blank_line():
    events = list(parse_sse_lines(iter(["data: last"])))

    assert events[0].data == "last"


def test_client_sends_bearer_token():
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["authorization"] = request.headers.get("authorization")
        return httpx.Response(200, json={"items": [], "total": 0})

    _client(handler, token="s3cret-value").list_runs()

    assert seen["authorization"] == "Bearer s3cret-value"


def test_client_without_token_sends_no_header():
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["authorization"] = request.headers.get("authorization")
        return httpx.Response(200, json={"items": []})

    _client(handler).list_runs()

    assert seen["authorization"] is None


def test_client_401_names_the_token_setting():
    client = _client(lambda request: httpx.Response(401, json={"detail": "bad token"}), "wrong")

    with pytest.raises(ApiUnauthorizedError) as caught:
        client.list_runs()

    assert "WATCHTOWER_API_TOKEN" in caught.value.message
    assert "rejected the token" in caught.value.message


def test_client_401_message_never_contains_token():
    client = _client(lambda request: httpx.Response(401, json={"detail": "x"}), "s3cret-value")

    with pytest.raises(ApiUnauthorizedError) as caught:
        client.get_run("abc")

    assert "s3cret-value" not in caught.value.message


def test_client_401_without_token_asks_for_one():
    client = _client(lambda request: httpx.Response(401, json={"detail": "missing"}))

    with pytest.raises(ApiUnauthorizedError) as caught:
        client.list_runs()

    assert "requires a token" in caught.value.message


def test_client_missing_report_is_none():
    client = _client(lambda request: httpx.Response(404, json={"detail": "no report"}))

    assert client.drift_report("abc") is None
    assert client.eval_report("abc") is None


def test_client_missing_run_raises_not_found():
    client = _client(lambda request: httpx.Response(404, json={"detail": "run 'abc' not found"}))

    with pytest.raises(ApiNotFoundError):
        client.get_run("abc")


def test_client_server_error_shows_status_and_detail():
    client = _client(lambda request: httpx.Response(500, json={"detail": "boom"}))

    with pytest.raises(ApiError) as caught:
        client.get_run("abc")

    assert "500" in caught.value.message
    assert "boom" in caught.value.message


def test_client_non_json_body_is_an_api_error():
    client = _client(lambda request: httpx.Response(200, text="<html>not the API</html>"))

    with pytest.raises(ApiError) as caught:
        client.list_runs()

    assert "not JSON" in caught.value.message


def test_client_health_returns_503_body():
    body = {"status": "degraded", "mlflow": {"ok": False}}
    client = _client(lambda request: httpx.Response(503, json=body))

    assert client.health() == body


def test_client_closed_port_is_unreachable():
    client = ApiClient(f"http://127.0.0.1:{_closed_port()}", timeout=5)

    with pytest.raises(ApiUnreachableError) as caught:
        client.list_runs()

    assert "watchtower serve" in caught.value.message


def test_all_runs_walks_pages():
    runs = [{"run_id": f"run-{index}"} for index in range(250)]
    offsets: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        offsets.append(offset)
        return httpx.Response(200, json={"items": runs[offset : offset + limit], "total": 250})

    fetched = _client(handler).all_runs(max_runs=1000)

    assert [run["run_id"] for run in fetched] == [run["run_id"] for run in runs]
    assert offsets == [0, 100, 200]


def test_all_runs_stops_at_max_runs():
    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        return httpx.Response(200, json={"items": [{"run_id": "r"}] * limit, "total": 10_000})

    assert len(_client(handler).all_runs(max_runs=30)) == 30


def test_stream_sends_last_event_id_and_yields_events():
    seen: dict[str, str | None] = {}
    body = 'id: 4\nevent: step\ndata: {"seq": 4, "kind": "status"}\n\nevent: end\ndata: {}\n\n'

    def handler(request: httpx.Request) -> httpx.Response:
        seen["last_event_id"] = request.headers.get("last-event-id")
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    events = list(_client(handler).stream_steps("abc", last_event_id=3))

    assert seen["last_event_id"] == "3"
    assert [event.event for event in events] == ["step", "end"]
    assert json.loads(events[0].data)["seq"] == 4


def test_stream_401_raises_unauthorized():
    client = _client(lambda request: httpx.Response(401, json={"detail": "bad token"}), "wrong")

    with pytest.raises(ApiUnauthorizedError):
        list(client.stream_steps("abc"))
