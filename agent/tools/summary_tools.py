"""The `write_summary` tool: the run's decision and its explanation, always the last step of a run."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agent.steps import Decision
from agent.tools.base import Tool, ToolEnv, ToolInput
from agent.tools.guardrails import check_summary_decision


class WriteSummaryInput(ToolInput):
    decision: Decision = Field(
        description=(
            "no_action (no retrain), retrained_not_promoted (retrained, champion kept), promoted "
            "(champion alias moved) or failed (the retrain was triggered but did not register a model)."
        )
    )
    summary: str = Field(
        min_length=20,
        max_length=4000,
        description="What the drift evidence showed, what was done and why, with the key numbers.",
    )


def write_summary(env: ToolEnv, args: WriteSummaryInput) -> dict[str, Any]:
    check_summary_decision(args.decision, env.progress)
    env.progress.decision = args.decision
    env.progress.summary = args.summary
    return {"decision": args.decision.value, "recorded": True}


TOOLS = [
    Tool(
        name="write_summary",
        description=(
            "Record the run's decision and a short explanation for the operators. Call it exactly once, "
            "as the last tool call of the run, after every other action. The decision must match what "
            "the run did."
        ),
        input_model=WriteSummaryInput,
        run=write_summary,
    ),
]
