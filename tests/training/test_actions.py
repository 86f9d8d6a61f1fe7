"""RegistryActions end to end on a real MLflow SQLite store, with an in-test retrain backend.

The backend trains and registers a model the way the training job does (version tagged with the
watchtower run id), so retrain, evaluation and promotion run against real registry state.
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from data.base import DataSchema  # noqa: E402
from training.actions import RegistryActions, build_actions  # noqa: E402
from training.backends import RetrainJob  # noqa: E402
from training.config import RUN_ID_TAG, RetrainingConfig  # noqa: E402
from training.registry import ModelRegistry  # noqa: E402
from watchtower.settings import Settings  # noqa: E402

MODEL = "churn"
FEATURES = ["x1", "x2"]
SCHEMA = DataSchema(features=FEATURES, target="y")


def _frame(seed: int, rows: int, rule: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    frame["y"] = ((frame[rule] + rng.normal(scale=0.5, size=rows)) > 0).astype(int)
    return frame


def _log_model(experiment_id: str, frame: pd.DataFrame, run_id: str) -> str:
    model = LogisticRegression().fit(frame[FEATURES], frame["y"])
    with mlflow.start_run(experiment_id=experiment_id, tags={RUN_ID_TAG: run_id}):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=MODEL,
            pip_requirements=["scikit-learn"],
            pyfunc_predict_fn="predict_proba",
        )
    version = str(info.registered_model_version)
    MlflowClient().set_model_version_tag(MODEL, version, RUN_ID_TAG, run_id)
    return version


class InTestBackend:
    """Trains on a given frame and registers the model like the training job, or fails on request."""

    def __init__(
        self,
        experiment_id: str,
        training_frame: pd.DataFrame,
        *,
        fail: bool = False,
        register: bool = True,
    ):
        self.experiment_id = experiment_id
        self.training_frame = training_frame
        self.fail = fail
        self.register = register
        self.triggered: list[str] = []

    def trigger(self, config: RetrainingConfig) -> RetrainJob:
        self.triggered.append(config.watchtower_run_id)
        return RetrainJob(
            "local",
            f"local-{config.watchtower_run_id}",
            "running",
            watchtower_run_id=config.watchtower_run_id,
        )

    def wait(self, job: RetrainJob, timeout_seconds: float) -> RetrainJob:
        if self.fail:
            return RetrainJob(
                "local",
                job.external_run_id,
                "failed",
                failed_tasks=["train"],
                message="train exited 1",
            )
        if self.register:
            _log_model(self.experiment_id, self.training_frame, job.watchtower_run_id)
        return RetrainJob("local", job.external_run_id, "success", message="trained")


@pytest.fixture
def settings(store) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        mlflow_tracking_uri=store[0],
        mlflow_model_name=MODEL,
        model_version_timeout_seconds=5,
        eval_bootstrap_samples=200,
    )


def _config(settings: Settings, run_id: str) -> RetrainingConfig:
    return RetrainingConfig(
        watchtower_run_id=run_id,
        dag_id=settings.retrain_dag_id,
        model_name=MODEL,
        experiment_name=settings.mlflow_experiment_name,
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        task_type="classification",
        target="y",
        features=FEATURES,
        data={"source": "synthetic"},
        holdout_fraction=0.3,
    )


def _actions(settings: Settings, backend: InTestBackend) -> RegistryActions:
    return RegistryActions(
        settings, ModelRegistry(settings.mlflow_tracking_uri), backend, version_poll_seconds=0.1
    )


@pytest.fixture
def champion(store) -> str:
    """Version 1, promoted to champion: fitted when x1 decided the label."""
    version = _log_model(store[1], _frame(1, 600, "x1"), "run-old")
    ModelRegistry(store[0]).promote(MODEL, version, "run-old")
    return version


def test_retrain_returns_registered_version(store, settings):
    backend = InTestBackend(store[1], _frame(2, 300, "x2"))
    outcome = _actions(settings, backend).trigger_retrain(_config(settings, "run-1"))
    assert outcome.state == "success"
    assert outcome.backend == "local"
    assert outcome.external_run_id == "local-run-1"
    assert outcome.model is not None
    assert outcome.model.version == "1"
    assert outcome.model.model_uri == f"models:/{MODEL}/1"
    assert outcome.model.status == "READY"
    assert backend.triggered == ["run-1"]


def test_retrain_failed_job_reports_tasks(store, settings):
    backend = InTestBackend(store[1], _frame(2, 300, "x2"), fail=True)
    outcome = _actions(settings, backend).trigger_retrain(_config(settings, "run-1"))
    assert outcome.state == "failed"
    assert outcome.failed_tasks == ["train"]
    assert outcome.message == "train exited 1"
    assert outcome.model is None


def test_retrain_without_version_fails_clearly(store, settings):
    quick = settings.model_copy(update={"model_version_timeout_seconds": 0.2})
    backend = InTestBackend(store[1], _frame(2, 300, "x2"), register=False)
    outcome = _actions(quick, backend).trigger_retrain(_config(quick, "run-1"))
    assert outcome.state == "failed"
    assert "no READY version" in outcome.message
    assert "run-1" in outcome.message


def test_better_retrain_evaluated_then_promoted(store, settings, champion):
    actions = _actions(settings, InTestBackend(store[1], _frame(2, 600, "x2")))
    outcome = actions.trigger_retrain(_config(settings, "run-new"))

    report = actions.evaluate("run-new", MODEL, _frame(3, 400, "x2"), SCHEMA, {"rows": 400})
    assert report.recommend_promotion is True
    assert report.champion.version == champion
    assert report.challenger.version == outcome.model.version

    result = actions.promote(MODEL, report.challenger.version, "run-new")
    registry = ModelRegistry(store[0])
    assert result.champion_version == outcome.model.version
    assert result.previous_champion_version == champion
    assert registry.get_champion(MODEL).version == outcome.model.version
    assert registry.get_previous_champion(MODEL).version == champion


def test_useless_retrain_not_recommended(store, settings, champion):
    # The retrain learns the same rule as the champion, on the same kind of rows.
    actions = _actions(settings, InTestBackend(store[1], _frame(1, 600, "x1")))
    actions.trigger_retrain(_config(settings, "run-same"))
    report = actions.evaluate("run-same", MODEL, _frame(3, 400, "x1"), SCHEMA, {})
    assert report.recommend_promotion is False
    assert ModelRegistry(store[0]).get_champion(MODEL).version == champion


def test_first_model_judged_alone(store, settings):
    actions = _actions(settings, InTestBackend(store[1], _frame(2, 600, "x2")))
    actions.trigger_retrain(_config(settings, "run-first"))
    report = actions.evaluate("run-first", MODEL, _frame(3, 400, "x2"), SCHEMA, {})
    assert report.champion is None
    assert report.recommend_promotion is True


def test_build_actions_uses_settings_store(settings):
    actions = build_actions(settings)
    assert actions.registry.tracking_uri == settings.mlflow_tracking_uri
    assert actions.registry.registry_uri == settings.mlflow_tracking_uri
