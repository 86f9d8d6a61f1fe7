"""A whole pipeline run (synthetic data, real drift engine, RunStore) decided by each decision maker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from agent_testkit import DUMMY_KEY, MODEL_NAME, InMemoryActions

from agent.pipeline import execute_run
from agent.run_store import RunStore
from agent.steps import Decision, RunStatus
from tests.fakes.anthropic_server import FakeAnthropicServer, reply, text, tool_use
from watchtower.settings import Settings


def _start(store: RunStore) -> str:
    return store.create_run(
        trigger_source="test", dry_run=False, model_name=MODEL_NAME, request={}
    ).id


def test_pipeline_with_rules_completes(
    store: RunStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        data_source="synthetic", synthetic_rows=600, synthetic_drift="mean_shift"
    )
    run_id = _start(store)

    execute_run(run_id, store, settings, {"dry_run": False}, actions=InMemoryActions())

    record = store.get_run(run_id)
    assert record is not None
    assert record.status == RunStatus.COMPLETED
    assert record.decision == Decision.PROMOTED
    assert record.decision_backend == "rules"
    assert record.summary is not None and record.summary.startswith("Rules policy.")
    tools = [step.tool_name for step in store.list_steps(run_id) if step.kind.value == "tool_call"]
    assert tools[-5:] == [
        "estimate_model_performance",
        "trigger_retrain",
        "evaluate_model",
        "promote_model",
        "write_summary",
    ]


def test_pipeline_with_claude_completes(
    store: RunStore, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [
        reply(text("Reading the target drift."), tool_use("run_target_drift", {})),
        reply(
            text("Only the summary is left."),
            tool_use(
                "write_summary",
                {"decision": "no_action", "summary": "Nothing drifted enough to act on."},
            ),
        ),
    ]
    settings = make_settings(
        data_source="synthetic",
        synthetic_rows=600,
        synthetic_drift="none",
        agent_backend="claude",
        anthropic_api_key=DUMMY_KEY,
    )
    run_id = _start(store)

    with FakeAnthropicServer(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        execute_run(run_id, store, settings, {"dry_run": False}, actions=InMemoryActions())

    record = store.get_run(run_id)
    assert record is not None
    assert record.status == RunStatus.COMPLETED
    assert record.decision == Decision.NO_ACTION
    assert record.decision_backend == "claude"
    assert record.decision_model == "claude-test-model"
    assert record.usage["input_tokens"] == 2400
    reasoning = [
        step.text for step in store.list_steps(run_id) if step.kind.value == "llm_reasoning"
    ]
    assert reasoning == ["Reading the target drift.", "Only the summary is left."]
    assert server.request_count == 2
