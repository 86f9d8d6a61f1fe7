"""Fixtures of the agent tests: a real RunStore in tmp_path, settings without any `.env`, and a
context builder that creates a run for each loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import MODEL_NAME, InMemoryActions, make_windows

from agent.context import AgentContext
from agent.run_store import RunStore
from drift.report import DriftReport
from watchtower.settings import Settings

_ANTHROPIC_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
    "ANTHROPIC_CUSTOM_HEADERS",
    "AGENT_BACKEND",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test reads a real key or sends anything outside 127.0.0.1.
    for name in _ANTHROPIC_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_TELEMETRY", "false")


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "agent_backend": "rules",
            "anthropic_model": "claude-test-model",
            "anthropic_max_retries": 2,
            "anthropic_timeout_seconds": 10.0,
            "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "mlflow_model_name": MODEL_NAME,
            "retrain_backend": "local",
            "eval_holdout_fraction": 0.25,
            "drift_top_features": 5,
            "agent_max_turns": 10,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    run_store = RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    yield run_store
    run_store.close()


@pytest.fixture
def make_context(
    store: RunStore, make_settings: Callable[..., Settings]
) -> Callable[..., AgentContext]:
    def build(report: DriftReport, actions: InMemoryActions, **settings: Any) -> AgentContext:
        run = store.create_run(
            trigger_source="test", dry_run=False, model_name=MODEL_NAME, request={}
        )
        store.mark_started(run.id)
        return AgentContext(
            run_id=run.id,
            settings=make_settings(**settings),
            store=store,
            windows=make_windows(),
            drift_report=report,
            actions=actions,
            data_spec={"source": "synthetic", "options": {"rows": 80}},
        )

    return build
