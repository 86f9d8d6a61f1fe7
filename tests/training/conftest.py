"""MLflow stores for the registry and actions tests: a fresh SQLite store per test, in tmp_path."""

from __future__ import annotations

import os

# Set before mlflow is imported, so it sends no usage data.
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")

import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402
import pytest  # noqa: E402
from mlflow import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow database with its schema created once, since the migrations take seconds."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path
) -> Iterator[tuple[str, str]]:
    """A copy of the template database as tracking and registry store: (URI, experiment id)."""
    shutil.copyfile(empty_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = mlflow.create_experiment(
        "tests", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    yield uri, experiment_id
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]
