"""The decision loop with the offline `rules` policy, on the same scenarios as the Claude tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from agent_testkit import InMemoryActions, drifted_report, make_report, quiet_report, step_kinds

from agent.context import AgentContext, AgentOutcome
from agent.orchestrator import run_decision_loop
from agent.policy import RulesPolicy
from agent.run_store import RunStore, StepRecord
from agent.steps import RunStatus
from drift.report import DriftReport


@dataclass
class RulesRun:
    outcome: AgentOutcome
    steps: list[StepRecord]
    actions: InMemoryActions
    ctx: AgentContext

    @property
    def kinds(self) -> list[tuple[str, str | None]]:
        return step_kinds(self.steps)

    def reasoning(self) -> list[str]:
        return [step.text or "" for step in self.steps if step.kind.value == "llm_reasoning"]


@pytest.fixture
def run_rules(
    store: RunStore, make_context: Callable[..., AgentContext]
) -> Callable[..., RulesRun]:
    def run(
        report: DriftReport, actions: InMemoryActions | None = None, **settings: Any
    ) -> RulesRun:
        actions = actions or InMemoryActions()
        ctx = make_context(report, actions, **settings)
        outcome = run_decision_loop(ctx)
        store.finish_run(ctx.run_id, RunStatus.COMPLETED, decision=outcome.decision)
        return RulesRun(outcome, store.list_steps(ctx.run_id), actions, ctx)

    return run


def test_rules_normal_drift_path_promotes(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report())

    assert run.outcome.decision == "promoted"
    assert run.outcome.backend == "rules"
    assert run.outcome.model is None
    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "run_statistical_drift"),
        ("tool_result", "run_statistical_drift"),
        ("tool_call", "run_target_drift"),
        ("tool_result", "run_target_drift"),
        ("tool_call", "check_model_performance"),
        ("tool_result", "check_model_performance"),
        ("tool_call", "estimate_model_performance"),
        ("tool_result", "estimate_model_performance"),
        ("llm_reasoning", None),
        ("tool_call", "trigger_retrain"),
        ("tool_result", "trigger_retrain"),
        ("llm_reasoning", None),
        ("tool_call", "evaluate_model"),
        ("tool_result", "evaluate_model"),
        ("llm_reasoning", None),
        ("tool_call", "promote_model"),
        ("tool_result", "promote_model"),
        ("llm_reasoning", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert run.actions.promotions == [("watchtower-test-model", "7", run.ctx.run_id)]


def test_rules_reasoning_names_thresholds(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report())

    reasoning = run.reasoning()
    assert reasoning[1] == (
        "Evidence that decided: drift. No performance evidence (realised: no_champion, no champion "
        "in memory; estimated: no_champion, no champion in memory), so drift decides. Dataset or "
        "target drift is present, so a retrain on the recent rows is tried; the evaluation decides "
        "whether the challenger replaces the champion. Drift evidence: dataset drift share 0.667 "
        "(2 of 3 features) "
        "against threshold 0.500: drifted; target 'y' (chi2, p=0.58 against alpha 0.05, PSI "
        "0.002): not drifted. This warrants retraining."
    )
    assert "challenger minus champion roc_auc is 0.03" in reasoning[3]
    assert "minimum improvement of 0.005" in reasoning[3]


def test_rules_summary_lists_actions(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report())

    assert run.outcome.summary.startswith("Rules policy. Evidence that decided: drift.")
    assert (
        "Version 7 is now the champion; version 6 keeps the previous-champion alias."
        in run.outcome.summary
    )


def test_rules_no_drift_path(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(quiet_report())

    assert run.outcome.decision == "no_action"
    assert run.kinds[-3:] == [
        ("llm_reasoning", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert run.reasoning()[-1].endswith(
        "so drift decides. Neither dataset nor target drift is present. Drift evidence: dataset "
        "drift share 0.333 (1 of 3 features) against threshold 0.500: not drifted; target 'y' "
        "(chi2, p=0.58 against alpha 0.05, PSI 0.002): not drifted. No retraining: no action."
    )
    assert run.actions.retrain_configs == []


def test_rules_target_drift_alone_retrains(run_rules: Callable[..., RulesRun]) -> None:
    report = make_report(quiet_report().features, target_drifted=True)
    run = run_rules(report)

    assert len(run.actions.retrain_configs) == 1
    assert "target 'y' (chi2, p=0.0026 against alpha 0.05, PSI 0.25): drifted" in run.reasoning()[1]


def test_rules_not_recommended_keeps_champion(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report(), InMemoryActions(recommend=False))

    assert run.outcome.decision == "retrained_not_promoted"
    assert run.actions.promotions == []
    assert "promote_model" not in [name for _, name in run.kinds]
    assert "Not recommended: the champion stays." in run.reasoning()[-1]


def test_rules_failed_retrain_ends_failed(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report(), InMemoryActions(retrain_state="failed"))

    assert run.outcome.decision == "failed"
    assert run.outcome.error == f"job local-{run.ctx.run_id} ended failed"
    assert run.actions.evaluations == []
    assert run.kinds[-2:] == [("tool_call", "write_summary"), ("tool_result", "write_summary")]


def test_rules_turn_limit_forces_summary(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report(), agent_max_turns=2)

    assert run.outcome.forced_summary_reason == "the run reached AGENT_MAX_TURNS=2"
    assert run.outcome.decision == "no_action"
    assert run.actions.retrain_configs == []
    assert run.kinds[-4:] == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert (
        run.reasoning()[-1]
        == "The loop requested the summary now; writing it from the actions so far."
    )


def test_rules_has_no_usage(run_rules: Callable[..., RulesRun]) -> None:
    run = run_rules(drifted_report())

    assert run.outcome.usage == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert all(step.usage is None for step in run.steps)


def test_rules_is_deterministic(run_rules: Callable[..., RulesRun]) -> None:
    first = run_rules(drifted_report())
    second = run_rules(drifted_report())

    assert first.reasoning() == second.reasoning()
    assert first.kinds == second.kinds


def test_rules_policy_answers_forced_choice() -> None:
    from watchtower.settings import Settings

    policy = RulesPolicy(drifted_report(), Settings(_env_file=None, agent_backend="rules"))  # type: ignore[call-arg]
    response = policy.respond(
        system="", messages=[], tools=[], tool_choice={"type": "tool", "name": "write_summary"}
    )

    assert response["stop_reason"] == "tool_use"
    assert response["content"][-1]["name"] == "write_summary"
    assert response["content"][-1]["input"]["decision"] == "no_action"
