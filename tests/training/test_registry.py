"""ModelRegistry against a real MLflow SQLite store in a temporary folder."""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")

import logging  # noqa: E402
import sqlite3  # noqa: E402

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from training.config import RUN_ID_TAG  # noqa: E402
from training.registry import (  # noqa: E402
    PROMOTED_BY_TAG,
    ModelRegistry,
    ModelVersionTimeoutError,
    RegistryError,
    redact_uri,
)
from watchtower.cli import main  # noqa: E402
from watchtower.settings import get_settings  # noqa: E402

MODEL = "churn"


@pytest.fixture
def registry(store) -> ModelRegistry:
    return ModelRegistry(store[0], backoff_seconds=0.01)


@pytest.fixture
def register(store, registry):
    """Register a version like the training job: tagged with the run id on the run and the version."""
    _, experiment_id = store
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 2))
    model = LogisticRegression().fit(features, (features[:, 0] > 0).astype(int))

    def _register(run_id: str) -> str:
        with mlflow.start_run(experiment_id=experiment_id, tags={RUN_ID_TAG: run_id}):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=MODEL,
                pip_requirements=["scikit-learn"],
                pyfunc_predict_fn="predict_proba",
            )
        version = str(info.registered_model_version)
        registry.client.set_model_version_tag(MODEL, version, RUN_ID_TAG, run_id)
        return version

    return _register


def test_wait_returns_tagged_ready_version(registry, register):
    register("run-a")
    version = register("run-b")
    found = registry.wait_for_run_version(MODEL, "run-b", timeout_seconds=5, poll_seconds=0.1)
    assert found.version == version
    assert found.status == "READY"
    assert found.model_uri == f"models:/{MODEL}/{version}"
    assert found.tags[RUN_ID_TAG] == "run-b"
    assert found.run_id is not None


def test_wait_sqlite_store_has_no_run_url(registry, register):
    register("run-a")
    assert registry.wait_for_run_version(MODEL, "run-a", timeout_seconds=5).run_url is None


def test_wait_timeout_names_model_run_statuses(registry, register):
    register("run-a")
    with pytest.raises(ModelVersionTimeoutError) as caught:
        registry.wait_for_run_version(MODEL, "run-missing", timeout_seconds=0, poll_seconds=0.1)
    message = str(caught.value)
    assert MODEL in message
    assert "run-missing" in message
    assert "no version tagged yet" in message


def test_wait_rejects_quote_in_run_id(registry):
    with pytest.raises(ValueError, match="single quote"):
        registry.wait_for_run_version(MODEL, "run'x", timeout_seconds=0)


def test_champion_missing_model_is_none(registry):
    assert registry.get_champion("no-such-model") is None


def test_champion_missing_alias_is_none(registry, register):
    register("run-a")
    assert registry.get_champion(MODEL) is None


def test_champion_found_by_alias_only(registry, register):
    # Search results may list no aliases, so the champion is read with the alias lookup.
    version = register("run-a")
    registry.promote(MODEL, version, "run-a")
    searched = registry.client.search_model_versions(f"name = '{MODEL}'")
    assert searched[0].aliases == []
    assert registry.get_champion(MODEL).version == version


def test_champion_deleted_version_is_none(registry, register):
    version = register("run-a")
    registry.promote(MODEL, version, "run-a")
    registry.client.delete_model_version(MODEL, version)
    assert registry.get_champion(MODEL) is None


def test_promote_first_champion(registry, register):
    version = register("run-a")
    result = registry.promote(MODEL, version, "run-a")
    assert result.champion_version == version
    assert result.previous_champion_version is None
    assert registry.get_previous_champion(MODEL) is None


def test_promote_moves_both_aliases(registry, register):
    first = register("run-a")
    second = register("run-b")
    registry.promote(MODEL, first, "run-a")
    result = registry.promote(MODEL, second, "run-b")
    assert result.champion_version == second
    assert result.previous_champion_version == first
    assert registry.get_champion(MODEL).version == second
    assert registry.get_previous_champion(MODEL).version == first


def test_promote_tags_promoting_run(registry, register):
    version = register("run-a")
    registry.promote(MODEL, version, "run-promoter")
    assert registry.get_version(MODEL, version).tags[PROMOTED_BY_TAG] == "run-promoter"


def test_promote_current_champion_changes_nothing(registry, register):
    first = register("run-a")
    second = register("run-b")
    registry.promote(MODEL, first, "run-a")
    registry.promote(MODEL, second, "run-b")
    result = registry.promote(MODEL, second, "run-b")
    assert result.previous_champion_version == first
    assert registry.get_previous_champion(MODEL).version == first


def test_promote_missing_version_rejected(registry, register):
    register("run-a")
    with pytest.raises(RegistryError, match="has no version '7'"):
        registry.promote(MODEL, "7", "run-a")


def test_rollback_swaps_aliases(registry, register):
    first = register("run-a")
    second = register("run-b")
    registry.promote(MODEL, first, "run-a")
    registry.promote(MODEL, second, "run-b")

    result = registry.rollback(MODEL)

    assert result.champion_version == first
    assert result.previous_champion_version == second
    assert registry.get_champion(MODEL).version == first
    assert registry.get_previous_champion(MODEL).version == second


def test_rollback_without_previous_rejected(registry, register):
    registry.promote(MODEL, register("run-a"), "run-a")
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback(MODEL)


def test_rollback_after_champion_deleted(registry, register):
    first = register("run-a")
    second = register("run-b")
    registry.promote(MODEL, first, "run-a")
    registry.promote(MODEL, second, "run-b")
    registry.client.delete_model_version(MODEL, second)

    result = registry.rollback(MODEL)

    assert result.champion_version == first
    assert result.previous_champion_version is None
    assert registry.get_previous_champion(MODEL) is None


def test_loader_scores_version(registry, register):
    version = register("run-a")
    with registry.pyfunc_loader() as load:
        model = load(registry.get_version(MODEL, version))
        probabilities = model.predict(np.array([[3.0, 0.0], [-3.0, 0.0]]))
    assert probabilities.shape == (2, 2)
    assert probabilities[0, 1] > 0.5
    assert probabilities[1, 1] < 0.5


# Retries


def test_transient_error_retried(store, caplog):
    registry = ModelRegistry(store[0], backoff_seconds=0.0, sleep=lambda seconds: None)
    failures = iter([MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "done"

    with caplog.at_level(logging.WARNING, logger="training.registry"):
        assert registry._call("reading a test value", flaky) == "done"
    assert "attempt 1 of 4" in caplog.text


def test_transient_error_reported_after_attempts():
    # An http store connects only when called, and the failing call below never reaches it.
    registry = ModelRegistry("http://user:secret@127.0.0.1:9", max_attempts=2, sleep=lambda s: None)

    def locked() -> None:
        raise MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)

    with pytest.raises(RegistryError) as caught:
        registry._call("reading a test value", locked)
    assert "failed 2 times while reading a test value" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_permanent_error_not_retried(store):
    calls = []
    registry = ModelRegistry(store[0], sleep=lambda s: None)

    def missing() -> None:
        calls.append(1)
        raise MlflowException("bad filter")

    with pytest.raises(MlflowException):
        registry._call("searching", missing)
    assert len(calls) == 1


@pytest.mark.slow
def test_locked_store_retried_then_succeeds(store, register, caplog):
    # Another connection holds an exclusive lock, so the first call waits out MLflow's 20 s SQLite
    # busy timeout (MLflow 3.17) and fails with "database is locked". The retry runs without the lock.
    uri, _ = store
    version = register("run-a")
    lock = sqlite3.connect(
        uri.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    lock.execute("BEGIN EXCLUSIVE")

    def release_then_wait(seconds: float) -> None:
        if lock.in_transaction:
            lock.execute("ROLLBACK")

    registry = ModelRegistry(uri, sleep=release_then_wait)
    with caplog.at_level(logging.WARNING, logger="training.registry"):
        result = registry.promote(MODEL, version, "run-a")
    lock.close()

    assert result.champion_version == version
    assert "database is locked" in caplog.text


def test_redact_uri_hides_password():
    assert (
        redact_uri("postgresql://user:secret@127.0.0.1:5432/mlflow")
        == "postgresql://user:***@127.0.0.1:5432/mlflow"
    )


def test_redact_uri_keeps_plain_uri():
    assert redact_uri("sqlite:///tmp/mlflow.db") == "sqlite:///tmp/mlflow.db"


# The `watchtower rollback` command


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_rollback_command_prints_moves(registry, register, capsys, fresh_settings):
    first = register("run-a")
    second = register("run-b")
    registry.promote(MODEL, first, "run-a")
    registry.promote(MODEL, second, "run-b")

    exit_code = main(["rollback", "--model", MODEL])

    output = capsys.readouterr().out
    assert exit_code == 0
    assert f"champion: version {first}" in output
    assert f"previous-champion: version {second}" in output
    assert registry.get_champion(MODEL).version == first


def test_rollback_command_nothing_to_roll_back(registry, register, capsys, fresh_settings):
    registry.promote(MODEL, register("run-a"), "run-a")
    exit_code = main(["rollback", "--model", MODEL])
    assert exit_code == 1
    assert "nothing to roll back to" in capsys.readouterr().err
