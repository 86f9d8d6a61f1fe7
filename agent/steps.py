"""Kinds of audit steps and the interface the agent writes them through."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class StepKind(StrEnum):
    LLM_REASONING = "llm_reasoning"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    STATUS = "status"
    ERROR = "error"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Decision(StrEnum):
    NO_ACTION = "no_action"
    RETRAINED_NOT_PROMOTED = "retrained_not_promoted"
    PROMOTED = "promoted"
    FAILED = "failed"


class RunRecorder(Protocol):
    """The sink for a run's steps and reports as they happen. `agent.run_store.RunStore` implements it."""

    def add_step(
        self,
        run_id: str,
        kind: StepKind,
        *,
        tool_name: str | None = None,
        input: dict[str, Any] | None = None,
        output: dict[str, Any] | None = None,
        text: str | None = None,
        usage: dict[str, int] | None = None,
        duration_ms: float | None = None,
    ) -> int:
        """Store one step in its own transaction and return its per-run sequence number."""
        ...

    def save_eval_report(self, run_id: str, report: dict[str, Any]) -> None:
        """Store the run's evaluation report (one per run; a second call replaces it)."""
        ...

    def get_eval_report(self, run_id: str) -> dict[str, Any] | None:
        """Return the run's stored evaluation report, or None when it has none."""
        ...
