"""The decision loop with the Claude decision maker, through the real SDK and a fake Messages API."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from agent_testkit import DUMMY_KEY, InMemoryActions, drifted_report, quiet_report, step_kinds

from agent.context import AgentContext, AgentOutcome
from agent.orchestrator import run_decision_loop
from agent.run_store import RunStore, StepRecord
from agent.steps import RunStatus
from drift.report import DriftReport
from tests.fakes.anthropic_server import (
    FakeAnthropicServer,
    ScriptItem,
    overloaded,
    rate_limited,
    reply,
    text,
    tool_use,
)

REASON = "Dataset drift share 0.667 is above the 0.5 threshold; x1 has PSI 1.2."


@dataclass
class ClaudeRun:
    outcome: AgentOutcome
    steps: list[StepRecord]
    server: FakeAnthropicServer
    actions: InMemoryActions
    ctx: AgentContext

    @property
    def kinds(self) -> list[tuple[str, str | None]]:
        return step_kinds(self.steps)

    def texts(self, kind: str) -> list[str | None]:
        return [step.text for step in self.steps if step.kind.value == kind]

    def results(self) -> list[dict[str, Any]]:
        return [step.output or {} for step in self.steps if step.kind.value == "tool_result"]


@pytest.fixture
def run_claude(
    store: RunStore, make_context: Callable[..., AgentContext], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ClaudeRun]:
    def run(
        script: list[ScriptItem],
        report: DriftReport,
        actions: InMemoryActions | None = None,
        *,
        repeat: ScriptItem | None = None,
        **settings: Any,
    ) -> ClaudeRun:
        actions = actions or InMemoryActions()
        with FakeAnthropicServer(script, repeat=repeat) as server:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
            ctx = make_context(
                report, actions, agent_backend="claude", anthropic_api_key=DUMMY_KEY, **settings
            )
            outcome = run_decision_loop(ctx)
        store.finish_run(ctx.run_id, RunStatus.COMPLETED, decision=outcome.decision)
        return ClaudeRun(outcome, store.list_steps(ctx.run_id), server, actions, ctx)

    return run


def _summary(
    decision: str, words: str = "The evidence was reviewed and the decision follows it."
) -> dict[str, Any]:
    return tool_use("write_summary", {"decision": decision, "summary": words})


def _normal_script() -> list[ScriptItem]:
    return [
        reply(
            text("Two of three features drifted; listing them."),
            tool_use("run_statistical_drift", {"only_drifted": True}),
        ),
        reply(
            text("Share 0.667 is above 0.5, so I retrain."),
            tool_use("trigger_retrain", {"reason": REASON}),
        ),
        reply(text("Version 7 is registered; evaluating it."), tool_use("evaluate_model", {})),
        reply(
            text("ROC AUC improves by 0.03, above 0.005; promoting."),
            tool_use("promote_model", {"reason": "ROC AUC +0.03 > 0.005"}),
        ),
        reply(text("Done; writing the summary."), _summary("promoted")),
    ]


def test_normal_drift_path_promotes(run_claude: Callable[..., ClaudeRun]) -> None:
    run = run_claude(_normal_script(), drifted_report())

    assert run.outcome.decision == "promoted"
    assert run.outcome.backend == "claude"
    assert run.outcome.model == "claude-test-model"
    assert run.outcome.error is None
    assert run.outcome.forced_summary_reason is None
    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "run_statistical_drift"),
        ("tool_result", "run_statistical_drift"),
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
    assert run.texts("llm_reasoning") == [
        "Two of three features drifted; listing them.",
        "Share 0.667 is above 0.5, so I retrain.",
        "Version 7 is registered; evaluating it.",
        "ROC AUC improves by 0.03, above 0.005; promoting.",
        "Done; writing the summary.",
    ]
    assert all(result["is_error"] is False for result in run.results())
    assert run.actions.promotions == [("watchtower-test-model", "7", run.ctx.run_id)]


def test_normal_drift_path_stores_eval_report(
    run_claude: Callable[..., ClaudeRun], store: RunStore
) -> None:
    run = run_claude(_normal_script(), drifted_report())

    stored = store.get_eval_report(run.ctx.run_id)
    assert stored is not None
    assert stored["recommend_promotion"] is True
    assert stored["challenger"]["version"] == "7"


def test_retrain_config_uses_holdout_split(run_claude: Callable[..., ClaudeRun]) -> None:
    run = run_claude(_normal_script(), drifted_report())

    config = run.actions.retrain_configs[0]
    # 80 current rows with a 0.25 holdout: 20 evaluation rows, 80 reference + 60 current to train on.
    assert config.watchtower_run_id == run.ctx.run_id
    assert config.target == "y"
    assert config.holdout_fraction == 0.25
    assert config.reason == REASON
    assert config.data == {"source": "synthetic", "options": {"rows": 80}}
    assert run.actions.evaluations[0]["rows"] == 20
    assert run.actions.evaluations[0]["window"] == config.evaluation_window


def test_usage_per_step_and_totals(run_claude: Callable[..., ClaudeRun], store: RunStore) -> None:
    run = run_claude(_normal_script(), drifted_report())

    # Five responses of 1200 input, 80 output and 1000 cache-read tokens each.
    assert run.outcome.usage == {
        "input_tokens": 6000,
        "output_tokens": 400,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5000,
    }
    with_usage = [step for step in run.steps if step.usage]
    assert [step.kind.value for step in with_usage] == ["llm_reasoning"] * 5
    record = store.get_run(run.ctx.run_id)
    assert record is not None
    assert record.usage["input_tokens"] == 6000


def test_requests_cache_system_and_tools(run_claude: Callable[..., ClaudeRun]) -> None:
    run = run_claude(_normal_script(), drifted_report())

    first = run.server.message_requests()[0]
    assert first["model"] == "claude-test-model"
    assert first["max_tokens"] == 4096
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in first["tools"][0]
    assert "tool_choice" not in first
    assert "temperature" not in first
    assert [tool["name"] for tool in first["tools"]] == [
        "run_statistical_drift",
        "run_feature_drift",
        "run_target_drift",
        "trigger_retrain",
        "evaluate_model",
        "promote_model",
        "write_summary",
        "check_model_performance",
        "estimate_model_performance",
    ]


def test_tool_results_sent_back(run_claude: Callable[..., ClaudeRun]) -> None:
    run = run_claude(_normal_script(), drifted_report())

    second = run.server.message_requests()[1]
    last = second["messages"][-1]
    assert last["role"] == "user"
    assert last["content"][0]["type"] == "tool_result"
    assert last["content"][0]["is_error"] is False
    listing = json.loads(last["content"][0]["content"])
    assert [item["name"] for item in listing["features"]] == ["x1", "color"]


def test_api_key_never_in_steps_or_logs(
    run_claude: Callable[..., ClaudeRun], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run = run_claude(_normal_script(), drifted_report())

    stored = json.dumps([step.__dict__ for step in run.steps], default=str)
    assert DUMMY_KEY not in stored
    assert DUMMY_KEY not in caplog.text
    assert DUMMY_KEY not in run.outcome.summary
    # The key did reach the fake server, so the assertions above look at a run that used it.
    assert DUMMY_KEY in run.server.requests[0].headers.get("Authorization", "")


def test_no_drift_path(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Share 0.333 is below 0.5 and the target did not drift."), _summary("no_action"))
    ]
    run = run_claude(script, quiet_report())

    assert run.outcome.decision == "no_action"
    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert run.texts("llm_reasoning") == ["Share 0.333 is below 0.5 and the target did not drift."]
    assert run.actions.retrain_configs == []


def test_promote_without_evaluation_is_blocked(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(
            text("The drift is obvious; promoting right away."),
            tool_use("promote_model", {"reason": "drift is obvious"}),
        ),
        reply(text("Blocked; summarizing."), _summary("no_action")),
    ]
    run = run_claude(script, drifted_report())

    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "promote_model"),
        ("tool_result", "promote_model"),
        ("error", "promote_model"),
        ("llm_reasoning", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert run.texts("llm_reasoning")[0] == "The drift is obvious; promoting right away."
    blocked = run.results()[0]
    assert blocked["is_error"] is True
    assert blocked["content"]["rule"] == "promote_needs_evaluation"
    assert "promote_needs_evaluation" in (run.texts("error")[0] or "")
    assert run.actions.promotions == []
    assert run.outcome.decision == "no_action"


def test_retrain_without_drift_is_blocked(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(
            text("x1 drifted, so I retrain anyway."),
            tool_use("trigger_retrain", {"reason": "x1 has PSI 0.9"}),
        ),
        reply(text("The rules say no; summarizing."), _summary("no_action")),
    ]
    run = run_claude(script, quiet_report())

    assert run.kinds[2:5] == [
        ("tool_call", "trigger_retrain"),
        ("tool_result", "trigger_retrain"),
        ("error", "trigger_retrain"),
    ]
    blocked = run.results()[0]
    assert blocked["content"]["rule"] == "retrain_needs_drift"
    assert "0.333" in blocked["content"]["message"]
    assert run.actions.retrain_configs == []
    assert run.outcome.decision == "no_action"


def test_invalid_input_then_valid(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Looking at x1."), tool_use("run_feature_drift", {"name": "x1"})),
        reply(
            text("Wrong argument name; retrying."), tool_use("run_feature_drift", {"feature": "x1"})
        ),
        reply(text("x1 drifted but alone it is not enough."), _summary("no_action")),
    ]
    run = run_claude(script, quiet_report())

    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "run_feature_drift"),
        ("tool_result", "run_feature_drift"),
        ("error", "run_feature_drift"),
        ("llm_reasoning", None),
        ("tool_call", "run_feature_drift"),
        ("tool_result", "run_feature_drift"),
        ("llm_reasoning", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    invalid, valid = run.results()[0], run.results()[1]
    assert invalid["content"]["error"] == "invalid_input"
    assert {item["field"] for item in invalid["content"]["details"]} == {"feature", "name"}
    assert valid["is_error"] is False
    assert valid["content"]["evidently"]["drifted"] is True


def test_unknown_feature_names_close_matches(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Looking at x_1."), tool_use("run_feature_drift", {"feature": "x_1"})),
        reply(text("Done."), _summary("no_action")),
    ]
    run = run_claude(script, quiet_report())

    message = run.results()[0]["content"]["message"]
    assert "'x_1' is not in this run's drift report" in message
    assert "'x1'" in message


def test_unknown_tool(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Deleting the old model."), tool_use("delete_model", {"version": "6"})),
        reply(text("That tool does not exist."), _summary("no_action")),
    ]
    run = run_claude(script, quiet_report())

    assert run.kinds[2:5] == [
        ("tool_call", "delete_model"),
        ("tool_result", "delete_model"),
        ("error", "delete_model"),
    ]
    assert run.results()[0]["content"]["error"] == "unknown_tool"
    assert "write_summary" in run.results()[0]["content"]["message"]
    assert run.outcome.decision == "no_action"


def test_overloaded_then_success(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [overloaded(), reply(text("No drift warrants action."), _summary("no_action"))]
    run = run_claude(script, quiet_report())

    assert run.outcome.decision == "no_action"
    assert run.server.request_count == 2
    assert run.texts("llm_reasoning") == ["No drift warrants action."]


def test_rate_limited_then_success(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [rate_limited(), reply(text("No drift warrants action."), _summary("no_action"))]
    run = run_claude(script, quiet_report())

    assert run.outcome.decision == "no_action"
    assert run.server.request_count == 2


def test_overloaded_every_time_fails_cleanly(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [reply(text("Checking the target first."), tool_use("run_target_drift", {}))]
    run = run_claude(script, drifted_report(), repeat=overloaded())

    assert run.outcome.decision == "failed"
    assert run.outcome.error is not None
    assert "529" in run.outcome.error
    assert "overloaded_error" in run.outcome.error
    # One successful request, then the first try and two retries of the second.
    assert run.server.request_count == 4
    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("tool_call", "run_target_drift"),
        ("tool_result", "run_target_drift"),
        ("error", None),
    ]
    assert run.texts("llm_reasoning") == ["Checking the target first."]
    assert "529" in (run.texts("error")[0] or "")


def test_turn_limit_forces_summary(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Target first."), tool_use("run_target_drift", {})),
        reply(text("Target again."), tool_use("run_target_drift", {})),
        reply(_summary("no_action", "Turn limit reached; share 0.333 is below 0.5, no action.")),
    ]
    run = run_claude(script, quiet_report(), agent_max_turns=3)

    assert run.outcome.forced_summary_reason == "the run reached AGENT_MAX_TURNS=3"
    assert run.outcome.decision == "no_action"
    assert run.kinds[-4:] == [
        ("tool_result", "run_target_drift"),
        ("status", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    requests = run.server.message_requests()
    assert [body.get("tool_choice") for body in requests] == [
        None,
        None,
        {"type": "tool", "name": "write_summary"},
    ]
    assert "limit of 3 model turns" in requests[2]["messages"][-1]["content"][-1]["text"]


def test_end_without_summary_is_forced(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Nothing here needs action.")),
        reply(_summary("no_action", "Share 0.333 is below 0.5 and the target is stable.")),
    ]
    run = run_claude(script, quiet_report())

    assert run.outcome.forced_summary_reason == (
        "the decision maker ended its turn (stop_reason end_turn) without calling write_summary"
    )
    assert run.kinds == [
        ("status", None),
        ("llm_reasoning", None),
        ("status", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert run.texts("llm_reasoning") == ["Nothing here needs action."]
    second = run.server.message_requests()[1]
    assert second["tool_choice"] == {"type": "tool", "name": "write_summary"}
    assert second["messages"][-1]["role"] == "user"
    assert run.outcome.summary == "Share 0.333 is below 0.5 and the target is stable."


def test_service_writes_summary_when_forcing_fails(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("I will not summarize.")),
        reply(text("Still no summary.")),
        reply(text("No.")),
    ]
    run = run_claude(script, quiet_report())

    assert run.server.request_count == 3
    assert run.kinds[-3:] == [
        ("status", None),
        ("tool_call", "write_summary"),
        ("tool_result", "write_summary"),
    ]
    assert run.outcome.decision == "no_action"
    assert run.outcome.summary.startswith("Summary written by the service")


def test_summary_with_wrong_decision_is_rejected(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Claiming a promotion."), _summary("promoted")),
        reply(text("Correcting the decision."), _summary("no_action")),
    ]
    run = run_claude(script, quiet_report())

    assert run.results()[0]["content"]["rule"] == "summary_decision_mismatch"
    assert run.outcome.decision == "no_action"
    assert run.kinds[-2:] == [("tool_call", "write_summary"), ("tool_result", "write_summary")]


def test_summary_before_other_calls_is_rejected(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(
            text("Summary, then a look."), _summary("no_action"), tool_use("run_target_drift", {})
        ),
        reply(text("Now the summary alone."), _summary("no_action")),
    ]
    run = run_claude(script, quiet_report())

    assert run.results()[0]["content"]["rule"] == "summary_last"
    assert run.results()[1]["is_error"] is False
    assert run.kinds[-2:] == [("tool_call", "write_summary"), ("tool_result", "write_summary")]


def test_second_retrain_is_blocked(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Retraining."), tool_use("trigger_retrain", {"reason": REASON})),
        reply(
            text("Retraining again to be sure."), tool_use("trigger_retrain", {"reason": REASON})
        ),
        reply(text("Summarizing."), _summary("retrained_not_promoted")),
    ]
    run = run_claude(script, drifted_report())

    assert run.results()[1]["content"]["rule"] == "retrain_once"
    assert len(run.actions.retrain_configs) == 1
    assert run.outcome.decision == "retrained_not_promoted"


def test_promotion_needs_recommendation(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Retraining."), tool_use("trigger_retrain", {"reason": REASON})),
        reply(text("Evaluating."), tool_use("evaluate_model", {})),
        reply(
            text("Close enough; promoting."),
            tool_use("promote_model", {"reason": "close enough to better"}),
        ),
        reply(text("Blocked; the champion stays."), _summary("retrained_not_promoted")),
    ]
    run = run_claude(script, drifted_report(), InMemoryActions(recommend=False))

    assert run.results()[2]["content"]["rule"] == "promote_needs_recommendation"
    assert run.actions.promotions == []
    assert run.outcome.decision == "retrained_not_promoted"


def test_evaluate_without_retrain_is_blocked(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Evaluating first."), tool_use("evaluate_model", {})),
        reply(text("Summarizing."), _summary("no_action")),
    ]
    run = run_claude(script, drifted_report())

    assert run.results()[0]["content"]["rule"] == "evaluate_needs_retrain"
    assert run.actions.evaluations == []


def test_failed_retrain_ends_failed(run_claude: Callable[..., ClaudeRun]) -> None:
    script = [
        reply(text("Retraining."), tool_use("trigger_retrain", {"reason": REASON})),
        reply(text("Evaluating anyway."), tool_use("evaluate_model", {})),
        reply(
            text("The job failed."), _summary("failed", "The retraining job failed in task train.")
        ),
    ]
    run = run_claude(
        script,
        drifted_report(),
        InMemoryActions(retrain_raises=RuntimeError("backend unreachable")),
    )

    assert run.results()[0]["content"]["error"] == "failed"
    assert "backend unreachable" in run.results()[0]["content"]["message"]
    assert run.results()[1]["content"]["rule"] == "evaluate_needs_retrain"
    assert run.outcome.decision == "failed"
    assert run.outcome.error == "RuntimeError: backend unreachable"


def test_auth_error_hides_key(run_claude: Callable[..., ClaudeRun]) -> None:
    from tests.fakes.anthropic_server import FakeError

    run = run_claude([FakeError(401, "authentication_error", "invalid x-api-key")], quiet_report())

    assert run.outcome.decision == "failed"
    assert "401" in (run.outcome.error or "")
    assert DUMMY_KEY not in (run.outcome.error or "")
    assert run.server.request_count == 1
