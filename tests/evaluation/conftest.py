"""A real MLflow store (SQLite registry, file artifacts) in a temporary folder for evaluation tests."""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import shutil  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import mlflow  # noqa: E402
import pytest  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from training.config import RUN_ID_TAG  # noqa: E402
from training.registry import ModelRegistry, RegisteredVersion  # noqa: E402

PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]


@dataclass
class MlflowStore:
    uri: str
    experiment_id: str
    registry: ModelRegistry


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with its schema created once, since the migrations take seconds."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_db: Path
) -> Iterator[MlflowStore]:
    shutil.copyfile(empty_mlflow_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = mlflow.create_experiment(
        "evaluation", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    yield MlflowStore(uri, experiment_id, ModelRegistry(uri))
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def log_version(
    store: MlflowStore,
    model_name: str,
    run_id: str,
    *,
    sklearn_model: Any = None,
    python_model: Any = None,
    predict_fn: str = "predict_proba",
) -> RegisteredVersion:
    """Register a version the way the training job does: tagged with the run id on run and version."""
    with mlflow.start_run(experiment_id=store.experiment_id, tags={RUN_ID_TAG: run_id}):
        if sklearn_model is not None:
            info = mlflow.sklearn.log_model(
                sklearn_model,
                name="model",
                registered_model_name=model_name,
                pip_requirements=PIP_REQUIREMENTS,
                pyfunc_predict_fn=predict_fn,
            )
        else:
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=python_model,
                registered_model_name=model_name,
                pip_requirements=PIP_REQUIREMENTS,
            )
    version = str(info.registered_model_version)
    store.registry.client.set_model_version_tag(model_name, version, RUN_ID_TAG, run_id)
    return store.registry.get_version(model_name, version)


@pytest.fixture
def register(mlflow_store: MlflowStore) -> Callable[..., RegisteredVersion]:
    def _register(model_name: str, run_id: str, **model: Any) -> RegisteredVersion:
        return log_version(mlflow_store, model_name, run_id, **model)

    return _register
