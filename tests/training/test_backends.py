"""Retrain backends and the training job they run.

The local backend runs the real training job (`airflow/include/train_job.py`) on seeded synthetic
data and registers versions in a real MLflow sqlite store under `tmp_path`. The Airflow backend is
checked against a fake Airflow 3 API served through `httpx.MockTransport`.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from training.airflow_client import AirflowClient
from training.backends import (
    TRAIN_JOB_PATH,
    AirflowBackend,
    LocalBackend,
    RetrainJob,
    RetrainTimeoutError,
    dag_run_id_for,
    get_retrain_backend,
)
from training.config import RUN_ID_TAG, RetrainingConfig
from watchtower.settings import Settings

ROWS = 600
HOLDOUT = 0.3
FEATURES = ["age", "income", "tenure_months", "score", "support_calls", "plan", "region", "channel"]
CATEGORICAL = ["plan", "region", "channel"]


@pytest.fixture(autouse=True)
def _quiet_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_TELEMETRY", "false")


def make_config(
    tmp_path: Path, run_id: str, task_type: str = "classification", **overrides: Any
) -> RetrainingConfig:
    values: dict[str, Any] = {
        "watchtower_run_id": run_id,
        "dag_id": "ml_retrain_pipeline",
        "model_name": "churn",
        "experiment_name": "watchtower-test",
        "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "task_type": task_type,
        "target": "target",
        "features": FEATURES,
        "categorical": CATEGORICAL,
        "timestamp": "event_time",
        "data": {
            "source": "synthetic",
            "options": {"rows": ROWS, "seed": 11, "drift": "label_shift", "task_type": task_type},
        },
        "holdout_fraction": HOLDOUT,
        "training_window": {"train_on": "reference_and_recent"},
        "seed": 3,
    }
    values.update(overrides)
    return RetrainingConfig(**values)


def mlflow_client(tmp_path: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def versions_of_run(tmp_path: Path, run_id: str) -> list[Any]:
    query = f"name = 'churn' and tags.{RUN_ID_TAG} = '{run_id}'"
    return list(mlflow_client(tmp_path).search_model_versions(query))


def load_train_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_job", TRAIN_JOB_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LocalBackend, RetrainJob]:
    """One successful local retrain, shared by the tests that only read its results."""
    tmp_path = tmp_path_factory.mktemp("local-retrain")
    backend = LocalBackend()
    job = backend.wait(backend.trigger(make_config(tmp_path, "run-ok")), timeout_seconds=300)
    return tmp_path, backend, job


@pytest.fixture
def trained(local_run: tuple[Path, LocalBackend, RetrainJob]) -> tuple[Path, RetrainJob]:
    return local_run[0], local_run[2]


# The local backend and the training job


@pytest.mark.slow
def test_local_retrain_succeeds(trained: tuple[Path, RetrainJob]):
    _, job = trained
    assert job.state == "success", job.message
    assert job.backend == "local"
    assert job.external_run_id == "local__run-ok"


@pytest.mark.slow
def test_local_retrain_registers_tagged_version(trained: tuple[Path, RetrainJob]):
    tmp_path, job = trained
    (version,) = versions_of_run(tmp_path, "run-ok")
    assert str(version.version) == "1"
    assert version.status == "READY"
    assert version.tags[RUN_ID_TAG] == "run-ok"
    assert job.result["version"] == "1"
    assert job.result["mlflow_run_id"] == version.run_id


@pytest.mark.slow
def test_local_retrain_tags_mlflow_run(trained: tuple[Path, RetrainJob]):
    tmp_path, job = trained
    run = mlflow_client(tmp_path).get_run(job.result["mlflow_run_id"])
    assert run.data.tags[RUN_ID_TAG] == "run-ok"
    assert run.data.params["task_type"] == "classification"
    assert "train_roc_auc" in run.data.metrics


@pytest.mark.slow
def test_local_retrain_trains_without_holdout_rows(trained: tuple[Path, RetrainJob]):
    tmp_path, job = trained
    run = mlflow_client(tmp_path).get_run(job.result["mlflow_run_id"])
    # Reference rows plus the current window minus its held-out latest 30%: 600 + 600 - 180.
    assert run.data.params["train_rows"] == "1020"


@pytest.mark.slow
def test_registered_classifier_returns_probabilities(trained: tuple[Path, RetrainJob]):
    import mlflow

    from data.spec import DataSpec, load_windows, split_for_retraining

    tmp_path, _ = trained
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/churn/1")
    config = make_config(tmp_path, "run-ok")
    split = split_for_retraining(load_windows(DataSpec(**config.data)), HOLDOUT)
    probabilities = np.asarray(model.predict(split.evaluation[FEATURES]))
    assert probabilities.shape == (180, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-9)


@pytest.mark.slow
def test_second_trigger_does_not_train_again(local_run: tuple[Path, LocalBackend, RetrainJob]):
    tmp_path, backend, first = local_run
    second = backend.trigger(make_config(tmp_path, "run-ok"))
    assert second.state == "success"
    assert second.message == "reused the earlier successful retrain"
    assert second.result == first.result
    assert len(versions_of_run(tmp_path, "run-ok")) == 1


@pytest.mark.slow
def test_new_backend_reuses_registered_version(local_run: tuple[Path, LocalBackend, RetrainJob]):
    tmp_path, _, first = local_run
    # A restarted service has a fresh backend; the job itself finds the version of this run.
    backend = LocalBackend()
    second = backend.wait(backend.trigger(make_config(tmp_path, "run-ok")), timeout_seconds=300)
    assert second.state == "success", second.message
    assert second.result["reused"] is True
    assert second.result["version"] == first.result["version"]
    assert len(versions_of_run(tmp_path, "run-ok")) == 1


@pytest.mark.slow
def test_failed_job_reports_its_error(tmp_path: Path):
    backend = LocalBackend()
    config = make_config(tmp_path, "run-bad", features=[*FEATURES, "no_such_column"])
    job = backend.wait(backend.trigger(config), timeout_seconds=300)
    assert job.state == "failed"
    assert job.failed_tasks == ["train_job"]
    assert "exited with code 2" in job.message
    assert "no_such_column" in job.message
    assert versions_of_run(tmp_path, "run-bad") == []


def test_slow_job_times_out(tmp_path: Path):
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    backend = LocalBackend(job_path=sleeper)
    job = backend.trigger(make_config(tmp_path, "run-slow"))
    with pytest.raises(RetrainTimeoutError, match="did not finish within 0.5 s"):
        backend.wait(job, timeout_seconds=0.5)


@pytest.mark.slow
def test_regression_job_registers_version(tmp_path: Path):
    backend = LocalBackend()
    job = backend.wait(
        backend.trigger(make_config(tmp_path, "run-reg", task_type="regression")),
        timeout_seconds=300,
    )
    assert job.state == "success", job.message
    run = mlflow_client(tmp_path).get_run(job.result["mlflow_run_id"])
    assert "train_rmse" in run.data.metrics


@pytest.mark.slow
def test_bootstrap_trains_on_reference_only(tmp_path: Path):
    config = make_config(tmp_path, "bootstrap")
    completed = subprocess.run(
        [
            sys.executable,
            str(TRAIN_JOB_PATH),
            "--conf-json",
            json.dumps(config.to_conf()),
            "--bootstrap-champion",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    run = mlflow_client(tmp_path).get_run(result["mlflow_run_id"])
    assert run.data.params["train_rows"] == str(ROWS)
    assert run.data.params["train_on"] == "reference"


def test_job_rejects_invalid_conf(tmp_path: Path):
    completed = subprocess.run(
        [sys.executable, str(TRAIN_JOB_PATH), "--conf-json", '{"watchtower_run_id": "x"}'],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "invalid retraining configuration" in completed.stderr


def test_build_model_handles_unseen_and_missing_categories():
    job = load_train_job()
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {"x": rng.normal(size=200), "colour": rng.choice(["red", "blue"], size=200)}
    )
    target = (train["x"] > 0).astype(int)
    model = job.build_model(["x", "colour"], ["colour"], "classification", seed=0)
    model.fit(train, target)
    unseen = pd.DataFrame({"x": [0.5, -0.5, np.nan], "colour": ["green", None, "red"]})
    assert model.predict_proba(unseen).shape == (3, 2)


def test_build_model_rejects_unknown_task_type():
    job = load_train_job()
    with pytest.raises(job.TrainJobError, match="unknown task_type 'ranking'"):
        job.build_model(["x"], [], "ranking")


# The Airflow backend and backend selection


def airflow_handler(final_state: str, failed_tasks: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2/version":
            return httpx.Response(200, json={"version": "3.3.2"})
        if path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        if path == "/api/v2/dags/ml_retrain_pipeline":
            return httpx.Response(200, json={"is_paused": False})
        if path.endswith("/dagRuns"):
            run_id = json.loads(request.content)["dag_run_id"]
            return httpx.Response(200, json={"dag_run_id": run_id, "state": "queued"})
        if path.endswith("/taskInstances"):
            instances = [{"task_id": task_id, "state": "failed"} for task_id in failed_tasks]
            return httpx.Response(200, json={"task_instances": instances})
        run_id = path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"dag_run_id": run_id, "state": final_state})

    return httpx.MockTransport(handle)


def airflow_backend(final_state: str, failed_tasks: list[str] | None = None) -> AirflowBackend:
    client = AirflowClient(
        "http://127.0.0.1:8080",
        "admin",
        "admin",
        transport=airflow_handler(final_state, failed_tasks or []),
        sleep=lambda seconds: None,
    )
    return AirflowBackend(client)


def test_airflow_backend_triggers_derived_run_id(tmp_path: Path):
    job = airflow_backend("success").trigger(make_config(tmp_path, "run-7"))
    assert job.external_run_id == "watchtower__run-7"
    assert job.state == "queued"
    assert job.dag_id == "ml_retrain_pipeline"
    assert job.url == "http://127.0.0.1:8080/dags/ml_retrain_pipeline/runs/watchtower__run-7"


def test_airflow_backend_wait_returns_success(tmp_path: Path):
    backend = airflow_backend("success")
    job = backend.wait(backend.trigger(make_config(tmp_path, "run-7")), timeout_seconds=60)
    assert job.state == "success"
    assert job.watchtower_run_id == "run-7"


def test_airflow_backend_failed_run_names_tasks(tmp_path: Path):
    backend = airflow_backend("failed", ["train_model"])
    job = backend.wait(backend.trigger(make_config(tmp_path, "run-7")), timeout_seconds=60)
    assert job.state == "failed"
    assert job.failed_tasks == ["train_model"]
    assert "failed tasks: train_model" in job.message


def test_dag_run_id_keeps_safe_characters():
    assert dag_run_id_for("3f2a-9c_1.b") == "watchtower__3f2a-9c_1.b"


def test_dag_run_id_replaces_unsafe_characters():
    assert dag_run_id_for("run 1/2") == "watchtower__run-1-2"


def test_backend_selection_local():
    assert isinstance(get_retrain_backend(Settings(retrain_backend="local")), LocalBackend)


def test_backend_selection_airflow():
    assert isinstance(get_retrain_backend(Settings(retrain_backend="airflow")), AirflowBackend)
