from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from agent.run_store import PROCESS_OWNER, RunRow, RunStore
from agent.steps import StepKind
from tests.api.apikit import build_app, make_settings, wait_for_run


def _dead_owner() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    host, _pid, token = PROCESS_OWNER.split(":")
    return f"{host}:{process.pid}:{token}"


def test_startup_interrupts_orphaned_runs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = RunStore(settings.database_url)
    run = store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
    store.mark_started(run.id)
    with store.engine.begin() as connection:
        connection.execute(update(RunRow).where(RunRow.id == run.id).values(owner=_dead_owner()))

    with TestClient(build_app(settings, store)) as client:
        body = client.get(f"/pipeline/status/{run.id}").json()
        retry = client.post("/pipeline/run", json={"dry_run": True, "model_name": "m"})

    assert body["status"] == "interrupted"
    assert body["steps"][-1]["kind"] == "status"
    assert "interrupted" in body["steps"][-1]["text"]
    assert retry.status_code == 202
    store.close()


def test_dry_run_end_to_end(client: TestClient, store: RunStore) -> None:
    started = client.post("/pipeline/run", json={"dry_run": True})
    run_id = started.json()["run_id"]

    body = wait_for_run(client, run_id)
    drift = client.get(f"/reports/drift/{run_id}")
    latest = client.get("/reports/drift/latest").json()

    kinds = [step["kind"] for step in body["steps"]]
    tools = [step["tool_name"] for step in body["steps"] if step["tool_name"]]
    assert started.status_code == 202
    assert body["status"] == "completed"
    assert body["decision"] == "no_action"
    assert body["dry_run"] is True
    assert kinds == ["status", "status", "tool_call", "tool_result", "status"]
    assert tools == ["detect_drift", "detect_drift"]
    assert "features drifted" in body["summary"]
    assert drift.status_code == 200
    assert drift.json()["report"]["dataset"]["n_tested"] > 0
    assert latest["run_id"] == run_id
    assert client.get(f"/reports/eval/{run_id}").status_code == 404


def test_dry_run_stream_shows_drift_and_end(client: TestClient) -> None:
    from tests.api.apikit import parse_sse

    run_id = client.post("/pipeline/run", json={"dry_run": True}).json()["run_id"]
    with client.stream("GET", f"/pipeline/status/{run_id}/stream") as response:
        events = [e for e in parse_sse(response.iter_lines()) if "comment" not in e]

    assert '"tool_name":"detect_drift"' in events[3]["data"]
    assert events[-1]["event"] == "end"
    assert '"decision":"no_action"' in events[-1]["data"]


def test_failed_data_load_fails_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, data_source="files", data_reference_path=None)
    store = RunStore(settings.database_url)

    with TestClient(build_app(settings, store)) as client:
        run_id = client.post("/pipeline/run", json={"dry_run": True}).json()["run_id"]
        body = wait_for_run(client, run_id)

    assert body["status"] == "failed"
    assert body["decision"] == "failed"
    assert "DATA_REFERENCE_PATH" in body["error"]
    assert body["steps"][-1]["kind"] == StepKind.ERROR.value
    assert "DATA_REFERENCE_PATH" in body["steps"][-1]["text"]
    store.close()
