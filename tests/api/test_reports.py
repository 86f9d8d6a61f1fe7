from __future__ import annotations

from fastapi.testclient import TestClient

from agent.run_store import RunStore


def test_drift_latest_and_by_run(client: TestClient, store: RunStore) -> None:
    first = store.create_run(trigger_source="t", dry_run=True, model_name="a", request={})
    second = store.create_run(trigger_source="t", dry_run=True, model_name="b", request={})
    store.save_drift_snapshot(first.id, {"dataset": {"drifted": True, "drift_share": 0.5}})
    store.save_drift_snapshot(second.id, {"dataset": {"drifted": False, "drift_share": 0.0}})

    latest = client.get("/reports/drift/latest").json()
    by_run = client.get(f"/reports/drift/{first.id}").json()

    assert latest["run_id"] == second.id
    assert latest["report"]["dataset"]["drifted"] is False
    assert by_run["run_id"] == first.id
    assert by_run["report"]["dataset"]["drift_share"] == 0.5
    assert by_run["created_at"] is not None


def test_eval_latest_and_by_run(client: TestClient, store: RunStore) -> None:
    run = store.create_run(trigger_source="t", dry_run=False, model_name="a", request={})
    store.save_eval_report(run.id, {"recommend_promotion": True, "primary_metric": "roc_auc"})

    latest = client.get("/reports/eval/latest").json()
    by_run = client.get(f"/reports/eval/{run.id}").json()

    assert latest["run_id"] == run.id
    assert by_run["report"]["recommend_promotion"] is True


def test_latest_reports_404_when_empty(client: TestClient) -> None:
    for path in ("/reports/drift/latest", "/reports/eval/latest"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "POST /pipeline/run" in response.json()["detail"], path


def test_unknown_run_reports_404(client: TestClient) -> None:
    for path in ("/reports/drift/nope", "/reports/eval/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "run 'nope' not found" in response.json()["detail"], path


def test_run_without_report_404(client: TestClient, store: RunStore) -> None:
    run = store.create_run(trigger_source="t", dry_run=True, model_name="a", request={})

    response = client.get(f"/reports/eval/{run.id}")

    assert response.status_code == 404
    assert "has no eval report" in response.json()["detail"]
    assert "dry run" in response.json()["detail"]
