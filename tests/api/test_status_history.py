from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from agent.run_store import RunStore
from agent.steps import Decision, RunStatus, StepKind


def test_status_returns_trace_in_order(client: TestClient, store: RunStore) -> None:
    run = store.create_run(trigger_source="t", dry_run=False, model_name="m", request={"a": 1})
    store.mark_started(run.id)
    store.set_decision_maker(run.id, "claude", "claude-sonnet-5")
    store.add_step(
        run.id, StepKind.LLM_REASONING, text="Drift is large.", usage={"input_tokens": 10}
    )
    store.add_step(run.id, StepKind.TOOL_CALL, tool_name="trigger_retrain", input={"why": "x"})
    store.add_step(run.id, StepKind.TOOL_RESULT, tool_name="trigger_retrain", output={"ok": 1})
    store.finish_run(run.id, RunStatus.COMPLETED, Decision.PROMOTED, summary="Promoted v2.")

    body = client.get(f"/pipeline/status/{run.id}").json()

    assert body["status"] == "completed"
    assert body["decision"] == "promoted"
    assert body["summary"] == "Promoted v2."
    assert body["decision_maker"] == {"backend": "claude", "model": "claude-sonnet-5"}
    assert body["usage"]["input_tokens"] == 10
    assert [step["kind"] for step in body["steps"]] == ["llm_reasoning", "tool_call", "tool_result"]
    assert body["steps"][0]["text"] == "Drift is large."
    assert body["steps"][1]["input"] == {"why": "x"}


def test_status_unknown_run_is_404(client: TestClient) -> None:
    response = client.get("/pipeline/status/unknown-id")

    assert response.status_code == 404
    assert "unknown-id" in response.json()["detail"]


def test_history_pages_newest_first(client: TestClient, store: RunStore) -> None:
    ids = []
    for index in range(5):
        run = store.create_run(trigger_source="t", dry_run=True, model_name=f"m{index}", request={})
        ids.append(run.id)

    body = client.get("/pipeline/history", params={"limit": 2, "offset": 1}).json()

    assert body["total"] == 5
    assert body["limit"] == 2
    assert body["offset"] == 1
    assert [item["run_id"] for item in body["items"]] == [ids[3], ids[2]]


def test_history_filters_by_status(client: TestClient, store: RunStore) -> None:
    done = store.create_run(trigger_source="t", dry_run=True, model_name="a", request={})
    store.create_run(trigger_source="t", dry_run=True, model_name="b", request={})
    store.finish_run(done.id, RunStatus.FAILED, Decision.FAILED, error="boom")

    body = client.get("/pipeline/history", params={"status": "failed"}).json()

    assert body["total"] == 1
    assert body["items"][0]["run_id"] == done.id
    assert body["items"][0]["error"] == "boom"


def test_history_rejects_bad_query(client: TestClient) -> None:
    cases: dict[str, tuple[dict[str, Any], list[str]]] = {
        "limit": ({"limit": 0}, ["query", "limit"]),
        "offset": ({"offset": -1}, ["query", "offset"]),
        "status": ({"status": "done"}, ["query", "status"]),
        "limit text": ({"limit": "ten"}, ["query", "limit"]),
    }
    for name, (params, loc) in cases.items():
        response = client.get("/pipeline/history", params=params)
        assert response.status_code == 422, name
        assert response.json()["detail"][0]["loc"] == loc, name


def test_history_empty_store(client: TestClient) -> None:
    body = client.get("/pipeline/history").json()

    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}
