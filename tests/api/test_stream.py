from __future__ import annotations

import json
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from agent.run_store import RunStore
from agent.steps import Decision, RunStatus, StepKind
from api.deps import get_launcher
from tests.api.apikit import GatedLauncher, build_app, make_settings, parse_sse, serve


def _finished_run(store: RunStore, steps: int = 4) -> str:
    run = store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
    for index in range(steps):
        store.add_step(run.id, StepKind.STATUS, text=f"step {index}")
    store.finish_run(run.id, RunStatus.COMPLETED, Decision.NO_ACTION, summary="all good")
    return run.id


def _events(client: TestClient, url: str, **kwargs: object) -> list[dict[str, str]]:
    with client.stream("GET", url, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code == 200
        return [event for event in parse_sse(response.iter_lines()) if "comment" not in event]


def test_stream_replays_steps_then_ends(client: TestClient, store: RunStore) -> None:
    run_id = _finished_run(store)

    events = _events(client, f"/pipeline/status/{run_id}/stream")

    assert [event["id"] for event in events[:-1]] == ["1", "2", "3", "4"]
    assert {event["event"] for event in events[:-1]} == {"step"}
    assert json.loads(events[1]["data"])["text"] == "step 1"
    assert events[-1]["event"] == "end"
    assert "id" not in events[-1]


def test_end_event_has_status_and_decision(client: TestClient, store: RunStore) -> None:
    run_id = _finished_run(store)

    end = json.loads(_events(client, f"/pipeline/status/{run_id}/stream")[-1]["data"])

    assert end["run_id"] == run_id
    assert end["status"] == "completed"
    assert end["decision"] == "no_action"
    assert end["summary"] == "all good"


def test_last_event_id_resumes_after_seq(client: TestClient, store: RunStore) -> None:
    run_id = _finished_run(store)

    events = _events(client, f"/pipeline/status/{run_id}/stream", headers={"Last-Event-ID": "2"})

    assert [event.get("id") for event in events] == ["3", "4", None]


def test_after_query_resumes_after_seq(client: TestClient, store: RunStore) -> None:
    run_id = _finished_run(store)

    events = _events(client, f"/pipeline/status/{run_id}/stream?after=3")

    assert [event.get("id") for event in events] == ["4", None]


def test_bad_last_event_id_is_422(client: TestClient, store: RunStore) -> None:
    run_id = _finished_run(store)

    response = client.get(f"/pipeline/status/{run_id}/stream", headers={"Last-Event-ID": "abc"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


def test_stream_unknown_run_is_404(client: TestClient) -> None:
    response = client.get("/pipeline/status/no-such-run/stream")

    assert response.status_code == 404
    assert "no-such-run" in response.json()["detail"]


def test_stream_follows_live_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = RunStore(settings.database_url)
    launcher = GatedLauncher(store, steps=5)
    app = build_app(settings, store, stream_poll_seconds=5.0)
    app.dependency_overrides[get_launcher] = lambda: launcher

    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        run_id = http.post("/pipeline/run", json={"dry_run": True}).json()["run_id"]
        with http.stream("GET", f"/pipeline/status/{run_id}/stream") as response:
            lines = response.iter_lines()
            launcher.gate.set()
            events = [e for e in parse_sse(lines) if "comment" not in e]
        launcher.join()

    assert [event.get("id") for event in events] == ["1", "2", "3", "4", "5", None]
    assert json.loads(events[-1]["data"])["status"] == "completed"
    store.close()


def test_stream_sends_heartbeats(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = RunStore(settings.database_url)
    launcher = GatedLauncher(store, steps=1)
    app = build_app(settings, store, stream_heartbeat_seconds=0.2)
    app.dependency_overrides[get_launcher] = lambda: launcher

    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        run_id = http.post("/pipeline/run", json={"dry_run": True}).json()["run_id"]
        with http.stream("GET", f"/pipeline/status/{run_id}/stream") as response:
            comments = 0
            for event in parse_sse(response.iter_lines()):
                if "comment" in event:
                    comments += 1
                    if comments == 2:
                        launcher.gate.set()
                elif event.get("event") == "end":
                    break
        launcher.join()

    assert comments >= 2
    store.close()


def test_stream_reads_writes_from_other_process_store(tmp_path: Path) -> None:
    # A second RunStore on the same file stands for another API worker: its writes reach the
    # stream only through polling.
    settings = make_settings(tmp_path)
    store = RunStore(settings.database_url)
    other_worker = RunStore(settings.database_url)
    run = other_worker.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
    app = build_app(settings, store, stream_poll_seconds=0.05)

    with (
        serve(app) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
        http.stream("GET", f"/pipeline/status/{run.id}/stream") as response,
    ):
        lines = response.iter_lines()
        other_worker.add_step(run.id, StepKind.STATUS, text="from the other worker")
        other_worker.finish_run(run.id, RunStatus.COMPLETED, Decision.NO_ACTION)
        events = [e for e in parse_sse(lines) if "comment" not in e]

    assert [event.get("event") for event in events] == ["step", "end"]
    assert json.loads(events[0]["data"])["text"] == "from the other worker"
    other_worker.close()
    store.close()
