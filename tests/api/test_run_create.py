from __future__ import annotations

import threading
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from agent.run_store import RunStore
from api.deps import get_launcher
from tests.api.apikit import GatedLauncher, build_app, make_settings, serve


def test_empty_body_uses_defaults(gated_client: TestClient, store: RunStore) -> None:
    response = gated_client.post("/pipeline/run")

    body = response.json()
    run = store.get_run(body["run_id"])
    assert response.status_code == 202
    assert body["status"] == "running"
    assert "triggered_at" in body
    assert run is not None
    assert run.trigger_source == "manual_api"
    assert run.dry_run is False
    assert run.model_name == "watchtower-champion"


def test_json_without_json_content_type(gated_client: TestClient, store: RunStore) -> None:
    # What `curl -d '{"dry_run": true}'` sends.
    response = gated_client.post(
        "/pipeline/run",
        content=b'{"dry_run": true}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 202
    assert store.get_run(response.json()["run_id"]).dry_run is True  # type: ignore[union-attr]


def test_body_fields_are_recorded(
    gated_client: TestClient, store: RunStore, gated: GatedLauncher
) -> None:
    response = gated_client.post(
        "/pipeline/run",
        json={"trigger_source": "cron", "dry_run": True, "model_name": "fraud-model"},
    )

    run = store.get_run(response.json()["run_id"])
    assert run is not None
    assert run.trigger_source == "cron"
    assert run.model_name == "fraud-model"
    assert gated.requests[0]["dry_run"] is True


def test_second_run_same_model_conflicts(gated_client: TestClient) -> None:
    first = gated_client.post("/pipeline/run", json={"dry_run": True}).json()

    second = gated_client.post("/pipeline/run", json={"dry_run": True})

    assert second.status_code == 409
    assert second.json()["active_run_id"] == first["run_id"]
    assert first["run_id"] in second.json()["detail"]


def test_other_model_runs_alongside(gated_client: TestClient) -> None:
    gated_client.post("/pipeline/run", json={"dry_run": True})

    other = gated_client.post("/pipeline/run", json={"dry_run": True, "model_name": "other"})

    assert other.status_code == 202


def test_concurrent_posts_one_wins(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = RunStore(settings.database_url)
    launcher = GatedLauncher(store)
    app = build_app(settings, store)
    app.dependency_overrides[get_launcher] = lambda: launcher
    barrier = threading.Barrier(10)
    codes: list[int] = []

    with serve(app) as base_url:

        def post() -> None:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                barrier.wait()
                codes.append(http.post("/pipeline/run", json={"dry_run": True}).status_code)

        threads = [threading.Thread(target=post) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        launcher.gate.set()
        launcher.join()

    assert sorted(codes) == [202] + [409] * 9
    store.close()


def test_invalid_json_is_422(gated_client: TestClient) -> None:
    response = gated_client.post("/pipeline/run", content=b'{"dry_run": tru')

    detail = response.json()["detail"][0]
    assert response.status_code == 422
    assert detail["loc"] == ["body"]
    assert "not valid JSON" in detail["msg"]


def test_wrong_type_names_field(gated_client: TestClient) -> None:
    response = gated_client.post("/pipeline/run", json={"dry_run": "maybe"})

    detail = response.json()["detail"][0]
    assert response.status_code == 422
    assert detail["loc"] == ["body", "dry_run"]


def test_unknown_field_names_field(gated_client: TestClient) -> None:
    response = gated_client.post("/pipeline/run", json={"dryrun": True})

    detail = response.json()["detail"][0]
    assert response.status_code == 422
    assert detail["loc"] == ["body", "dryrun"]


def test_invalid_window_names_field(gated_client: TestClient) -> None:
    response = gated_client.post("/pipeline/run", json={"current_window": "July"})

    detail = response.json()["detail"][0]
    assert response.status_code == 422
    assert detail["loc"] == ["body", "current_window"]
    assert "July" in detail["msg"]


def test_window_on_windowless_source_is_422(gated_client: TestClient) -> None:
    response = gated_client.post("/pipeline/run", json={"reference_window": "2013-01"})

    detail = response.json()["detail"][0]
    assert response.status_code == 422
    assert detail["loc"] == ["body", "reference_window"]
    assert "DATA_SOURCE=synthetic" in detail["msg"]


def test_body_not_an_object_is_422(gated_client: TestClient) -> None:
    for raw in (b"[1, 2]", b'"dry"', b"\xff\xfe"):
        response = gated_client.post("/pipeline/run", content=raw)
        assert response.status_code == 422, raw


def test_bad_trigger_source_is_422(gated_client: TestClient) -> None:
    response = gated_client.post("/pipeline/run", json={"trigger_source": "x" * 101})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "trigger_source"]


def test_openapi_documents_the_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    body = schema["paths"]["/pipeline/run"]["post"]["requestBody"]
    assert "dry_run" in body["content"]["application/json"]["schema"]["properties"]
