"""Tool definitions, the run progress the tools share, and the errors a tool call can end in.

A tool is a typed function: its arguments are a pydantic model, validated before the tool runs, and its
result is a JSON-serialisable dict that goes back to the decision maker as a `tool_result`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from agent.context import AgentContext, PromotionResult, RetrainOutcome
from agent.steps import Decision

# The rules enforced in code; a rejected call names the rule it broke.
Rule = Literal[
    "retrain_needs_drift",
    "retrain_once",
    "retrain_needs_target",
    "evaluate_needs_retrain",
    "evaluate_once",
    "promote_needs_evaluation",
    "promote_needs_recommendation",
    "promote_once",
    "promote_version_mismatch",
    "summary_last",
    "summary_decision_mismatch",
]


class ToolError(Exception):
    """A tool call that ended without a result; the message goes back to the model as `is_error`."""

    kind: str = "error"


class ToolInputError(ToolError):
    """The model sent arguments the tool cannot use (a name not in the report, a bad value)."""

    kind = "invalid_input"


class ToolRejected(ToolError):
    """A rule enforced in code forbids this call in this run, whatever the model's reasons."""

    kind = "rejected"

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class ToolFailed(ToolError):
    """An external service (retrain backend, MLflow, evaluator) failed while the tool ran."""

    kind = "failed"


class ToolInput(BaseModel):
    """Base of every tool's input model: unknown arguments are invalid, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class RunProgress:
    """Record of the actions of this run so far, which the guardrails check along with the run store."""

    retrain_requested: bool = False
    retrain: RetrainOutcome | None = None
    retrain_error: str | None = None
    # `data.spec.RetrainSplit` of this run, kept so that evaluation uses the rows held out from training.
    split: Any = None
    evaluated: bool = False
    eval_report: dict[str, Any] | None = None
    promotion: PromotionResult | None = None
    # Results of check_model_performance ("realised") and estimate_model_performance ("estimated").
    performance: dict[str, dict[str, Any]] = field(default_factory=dict)
    decision: Decision | None = None
    summary: str | None = None
    tool_calls: list[str] = field(default_factory=list)

    def retrain_succeeded(self) -> bool:
        outcome = self.retrain
        return outcome is not None and outcome.state == "success" and outcome.model is not None

    def decision_so_far(self) -> Decision:
        """Return the decision the actions taken so far amount to."""
        if self.promotion is not None:
            return Decision.PROMOTED
        if self.retrain_succeeded():
            return Decision.RETRAINED_NOT_PROMOTED
        if self.retrain_requested:
            return Decision.FAILED
        return Decision.NO_ACTION


@dataclass
class ToolEnv:
    """The run a tool works on: the agent context and the progress shared by all tool calls."""

    ctx: AgentContext
    progress: RunProgress


@dataclass(frozen=True)
class Tool:
    """One tool: its name, the description the model reads, its input model and its function."""

    name: str
    description: str
    input_model: type[ToolInput]
    run: Callable[[ToolEnv, Any], dict[str, Any]]

    def definition(self) -> dict[str, Any]:
        """Return the tool in the Messages API format (name, description, JSON schema)."""
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        return {"name": self.name, "description": self.description, "input_schema": schema}
