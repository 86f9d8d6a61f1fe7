"""The example DAGs on a real Airflow 3, driven through the service's client.

`ml_retrain_pipeline` trains on seeded synthetic data and registers a version in an MLflow sqlite
store under `tmp_path`. The tests then find that version from the service side, as the evaluation
step does. `watchtower_schedule` calls a small watchtower API stand-in on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from training.airflow_client import AirflowClient
from training.backends import AirflowBackend, RetrainJob
from training.config import RUN_ID_TAG, RetrainingConfig

pytestmark = pytest.mark.airflow

DAG_ID = "ml_retrain_pipeline"
RUN_TIMEOUT_SECONDS = 300
FEATURES = ["age", "income", "tenure_months", "score", "support_calls", "plan", "region", "channel"]


def retraining_config(store: Path, run_id: str) -> RetrainingConfig:
    return RetrainingConfig(
        watchtower_run_id=run_id,
        dag_id=DAG_ID,
        model_name="churn-airflow",
        experiment_name="watchtower-airflow-test",
        mlflow_tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
        task_type="classification",
        target="target",
        features=FEATURES,
        categorical=["plan", "region", "channel"],
        timestamp="event_time",
        data={
            "source": "synthetic",
            "options": {
                "rows": 800,
                "seed": 5,
                "drift": "label_shift",
                "task_type": "classification",
            },
        },
        holdout_fraction=0.3,
        training_window={"train_on": "reference_and_recent"},
        reason="integration test",
    )


def make_client(base_url: str) -> AirflowClient:
    return AirflowClient(base_url, "admin", "admin", poll_interval_seconds=1.0)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-store")


@pytest.fixture(scope="module")
def retrain(airflow_server: Any, mlflow_store: Path) -> tuple[RetrainJob, float]:
    """Trigger ml_retrain_pipeline once and wait for it; return the job and trigger-to-end seconds."""
    backend = AirflowBackend(make_client(airflow_server.base_url))
    started = time.perf_counter()
    job = backend.trigger(retraining_config(mlflow_store, "airflow-run-1"))
    job = backend.wait(job, timeout_seconds=RUN_TIMEOUT_SECONDS)
    seconds = time.perf_counter() - started
    print(f"\nml_retrain_pipeline: trigger to {job.state} in {seconds:.1f} s")
    return job, seconds


def test_dags_import_without_errors(airflow_server: Any):
    with make_client(airflow_server.base_url) as client:
        assert client.list_import_errors() == []


def test_retrain_dag_run_succeeds(retrain: tuple[RetrainJob, float]):
    job, _ = retrain
    assert job.state == "success", f"{job.message}; see {job.url}"
    assert job.external_run_id == "watchtower__airflow-run-1"


def test_service_finds_registered_version(retrain: tuple[RetrainJob, float], mlflow_store: Path):
    from training.registry import ModelRegistry

    registry = ModelRegistry(f"sqlite:///{mlflow_store / 'mlflow.db'}")
    version = registry.wait_for_run_version(
        "churn-airflow", "airflow-run-1", timeout_seconds=60, poll_seconds=1
    )
    assert version.version == "1"
    assert version.tags[RUN_ID_TAG] == "airflow-run-1"


def test_service_loads_airflow_trained_model(retrain: tuple[RetrainJob, float], mlflow_store: Path):
    import mlflow

    from data.spec import DataSpec, load_windows, split_for_retraining

    config = retraining_config(mlflow_store, "airflow-run-1")
    split = split_for_retraining(load_windows(DataSpec(**config.data)), config.holdout_fraction)
    mlflow.set_tracking_uri(config.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model("models:/churn-airflow/1")
    probabilities = np.asarray(model.predict(split.evaluation[FEATURES]))
    assert probabilities.shape == (240, 2)


def test_repeated_trigger_follows_same_run(
    airflow_server: Any, retrain: tuple[RetrainJob, float], mlflow_store: Path
):
    from training.registry import ModelRegistry

    backend = AirflowBackend(make_client(airflow_server.base_url))
    job = backend.trigger(retraining_config(mlflow_store, "airflow-run-1"))
    assert job.state == "success"
    assert "already existed" in job.message
    registry = ModelRegistry(f"sqlite:///{mlflow_store / 'mlflow.db'}")
    assert len(registry.find_run_versions("churn-airflow", "airflow-run-1")) == 1


def test_invalid_conf_fails_in_validate_task(airflow_server: Any):
    with make_client(airflow_server.base_url) as client:
        client.trigger_dag_run(DAG_ID, "watchtower__bad-conf", {"watchtower_run_id": "bad-conf"})
        dag_run = client.wait_for_dag_run(DAG_ID, "watchtower__bad-conf", RUN_TIMEOUT_SECONDS)
    assert dag_run.state == "failed"
    assert dag_run.failed_tasks == ["validate_conf"]


# The weekly schedule DAG against a stand-in for the watchtower API


class _WatchtowerStandIn(BaseHTTPRequestHandler):
    """Serve POST /pipeline/run and GET /pipeline/status/{run_id} like the watchtower API."""

    received: list[dict[str, Any]] = []

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server's method name)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.received.append({"path": self.path, "body": body})
        self._reply(202, {"run_id": "wt-1", "status": "running", "triggered_at": "now"})

    def do_GET(self) -> None:  # noqa: N802 (http.server's method name)
        if self.path == "/pipeline/status/wt-1":
            self._reply(200, {"run_id": "wt-1", "status": "completed", "decision": "no_action"})
        else:
            self._reply(404, {"detail": "not found"})

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def watchtower_stand_in() -> Iterator[str]:
    _WatchtowerStandIn.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WatchtowerStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _set_variable(base_url: str, key: str, value: str) -> None:
    token = httpx.post(
        f"{base_url}/auth/token", json={"username": "admin", "password": "admin"}
    ).json()["access_token"]
    response = httpx.post(
        f"{base_url}/api/v2/variables",
        json={"key": key, "value": value},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 201), response.text


def test_schedule_dag_starts_watchtower_run(airflow_server: Any, watchtower_stand_in: str):
    _set_variable(airflow_server.base_url, "watchtower_api_url", watchtower_stand_in)
    with make_client(airflow_server.base_url) as client:
        client.trigger_dag_run("watchtower_schedule", "manual__schedule-test", {})
        dag_run = client.wait_for_dag_run(
            "watchtower_schedule", "manual__schedule-test", RUN_TIMEOUT_SECONDS
        )
    assert dag_run.state == "success", dag_run.failed_tasks
    bodies = [item["body"] for item in _WatchtowerStandIn.received]
    assert {"trigger_source": "airflow_schedule"} in bodies
