"""The rules loop on windows from the synthetic loader and a report from the real drift engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from agent_testkit import MODEL_NAME, InMemoryActions

from agent.context import AgentContext
from agent.orchestrator import run_decision_loop
from agent.run_store import RunStore
from data.spec import DataSpec, load_windows
from drift.engine import DriftConfig, detect_drift
from watchtower.settings import Settings


def _context(store: RunStore, settings: Settings, actions: InMemoryActions) -> AgentContext:
    spec = DataSpec.from_settings(settings)
    windows = load_windows(spec)
    report = detect_drift(windows, DriftConfig.from_settings(settings))
    run = store.create_run(trigger_source="test", dry_run=False, model_name=MODEL_NAME, request={})
    return AgentContext(
        run_id=run.id,
        settings=settings,
        store=store,
        windows=windows,
        drift_report=report,
        actions=actions,
        data_spec=spec.model_dump(mode="json"),
    )


@pytest.mark.parametrize(
    ("drift", "decision"),
    [("mean_shift", "promoted"), ("none", "no_action")],
)
def test_rules_on_synthetic_windows(
    store: RunStore, make_settings: Callable[..., Settings], drift: str, decision: str
) -> None:
    settings = make_settings(data_source="synthetic", synthetic_rows=600, synthetic_drift=drift)
    actions = InMemoryActions()
    ctx = _context(store, settings, actions)

    outcome = run_decision_loop(ctx)

    assert outcome.decision == decision
    assert ctx.drift_report.dataset.drifted is (drift == "mean_shift")


def test_retrain_holds_out_latest_rows(
    store: RunStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        data_source="synthetic", synthetic_rows=600, synthetic_drift="mean_shift"
    )
    actions = InMemoryActions()
    ctx = _context(store, settings, actions)

    run_decision_loop(ctx)

    config = actions.retrain_configs[0]
    # 600 current rows with a 0.25 holdout: the latest 150 rows are scored, never trained on.
    assert actions.evaluations[0]["rows"] == 150
    assert config.evaluation_window == actions.evaluations[0]["window"]
    assert config.data["source"] == "synthetic"
    assert config.features == ctx.windows.schema.features
