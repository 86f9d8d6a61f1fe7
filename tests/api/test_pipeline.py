from __future__ import annotations

from typing import Any

import pytest

from agent.context import AgentContext, AgentOutcome
from agent.pipeline import describe_drift, execute_run
from agent.run_store import RunStore
from agent.steps import Decision, RunStatus, StepKind
from watchtower.settings import Settings


class _NoActions:
    def trigger_retrain(self, config: Any) -> Any:
        raise AssertionError("not called by the scripted decision")

    def evaluate(self, *args: Any) -> Any:
        raise AssertionError("not called by the scripted decision")

    def promote(self, *args: Any) -> Any:
        raise AssertionError("not called by the scripted decision")


def _scripted(decision: str, error: str | None = None) -> Any:
    seen: list[AgentContext] = []

    def decide(context: AgentContext) -> AgentOutcome:
        seen.append(context)
        context.store.add_step(
            context.run_id, StepKind.LLM_REASONING, text="Thinking.", usage={"input_tokens": 7}
        )
        return AgentOutcome(
            decision=decision,  # type: ignore[arg-type]
            summary=f"scripted {decision}",
            backend="rules",
            error=error,
        )

    decide.seen = seen  # type: ignore[attr-defined]
    return decide


def _run(store: RunStore, settings: Settings, dry_run: bool, **kwargs: Any) -> str:
    run = store.create_run(trigger_source="t", dry_run=dry_run, model_name="m", request={})
    execute_run(run.id, store, settings, {"dry_run": dry_run}, **kwargs)
    return run.id


def test_full_run_uses_decide(store: RunStore, settings: Settings) -> None:
    decide = _scripted("no_action")

    run_id = _run(store, settings, False, decide=decide, actions=_NoActions())

    run = store.get_run(run_id)
    context = decide.seen[0]
    assert run is not None
    assert run.status is RunStatus.COMPLETED
    assert run.decision is Decision.NO_ACTION
    assert run.summary == "scripted no_action"
    assert run.decision_backend == "rules"
    assert run.usage["input_tokens"] == 7
    assert context.run_id == run_id
    assert context.data_spec["source"] == "synthetic"
    assert context.drift_report.dataset.n_tested > 0
    assert store.get_drift_snapshot(run_id) is not None


def test_failed_decision_fails_run(store: RunStore, settings: Settings) -> None:
    decide = _scripted("failed", error="retrain job failed")

    run_id = _run(store, settings, False, decide=decide, actions=_NoActions())

    run = store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.error == "retrain job failed"


def test_decide_exception_fails_run(store: RunStore, settings: Settings) -> None:
    def explode(context: AgentContext) -> AgentOutcome:
        raise RuntimeError("model server unreachable")

    run_id = _run(store, settings, False, decide=explode, actions=_NoActions())

    run = store.get_run(run_id)
    last = store.list_steps(run_id)[-1]
    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.decision is Decision.FAILED
    assert run.error == "RuntimeError: model server unreachable"
    assert last.kind is StepKind.ERROR
    assert store.active_run("m") is None


def test_dry_run_skips_decide(store: RunStore, settings: Settings) -> None:
    decide = _scripted("promoted")

    run_id = _run(store, settings, True, decide=decide)

    assert decide.seen == []
    assert store.get_run(run_id).decision is Decision.NO_ACTION  # type: ignore[union-attr]


def test_describe_drift_sentence() -> None:
    summary = {
        "dataset_drift": True,
        "n_drifted": 2,
        "n_tested": 8,
        "drift_share": 0.25,
        "threshold": 0.2,
        "top_features": [{"name": "age"}, {"name": "score"}],
        "target_drift": {"drifted": False},
    }

    assert describe_drift(summary) == (
        "Dataset drift detected: 2 of 8 features drifted (share 0.250, threshold 0.200). "
        "Most drifted: age, score. Target drift: no."
    )


@pytest.mark.parametrize("window", ["2013-01", None])
def test_window_override_on_synthetic(
    store: RunStore, settings: Settings, window: str | None
) -> None:
    run = store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})

    execute_run(run.id, store, settings, {"dry_run": True, "reference_window": window})

    expected = RunStatus.FAILED if window else RunStatus.COMPLETED
    assert store.get_run(run.id).status is expected  # type: ignore[union-attr]
