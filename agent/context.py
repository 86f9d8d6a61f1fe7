"""The state one decision loop works on, and the interface to the actions that change the world.

The orchestrator and its tools depend only on these types. `training.actions.RegistryActions`
implements `Actions` with the retrain backend, MLflow and the evaluator; tests of the loop can use
any other implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agent.steps import RunRecorder
from data.base import DataSchema, DataWindows
from drift.report import DriftReport
from evaluation.summary import EvalReport
from training.config import MLflowRunRef, RetrainingConfig
from watchtower.settings import Settings

if TYPE_CHECKING:
    from evaluation.performance import PerformanceResult


@dataclass
class RetrainOutcome:
    """The end state of a retraining job and the model version it registered."""

    backend: Literal["airflow", "local"]
    external_run_id: str
    state: Literal["success", "failed"]
    model: MLflowRunRef | None = None
    failed_tasks: list[str] = field(default_factory=list)
    message: str = ""
    duration_seconds: float = 0.0


@dataclass
class PromotionResult:
    model_name: str
    champion_version: str
    previous_champion_version: str | None
    alias: str = "champion"


class Actions(Protocol):
    def trigger_retrain(self, config: RetrainingConfig) -> RetrainOutcome:
        """Start the training job, wait for it to end and for its model version to be READY."""
        ...

    def evaluate(
        self,
        run_id: str,
        model_name: str,
        eval_frame: Any,
        schema: DataSchema,
        eval_window: dict[str, Any],
    ) -> EvalReport:
        """Score the challenger registered for `run_id` against the champion on `eval_frame`."""
        ...

    def promote(self, model_name: str, version: str, run_id: str) -> PromotionResult:
        """Move the `champion` alias to `version`, keeping the old one as `previous-champion`."""
        ...

    def check_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
        """Compare the champion's realised metric on the labelled current window with its reference.

        Without a champion or without labelled current rows, the result's status names the reason.
        """
        ...

    def estimate_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
        """Estimate the champion's metric on the current window without labels (CBPE).

        Without a champion, for regression, or for a champion without probabilities, the result's
        status names the reason.
        """
        ...


@dataclass
class AgentContext:
    """Everything one decision loop needs: the run, its data, its drift evidence and its actions."""

    run_id: str
    settings: Settings
    store: RunRecorder
    windows: DataWindows
    drift_report: DriftReport
    actions: Actions
    # The data source spec as JSON, handed to the training job so it loads the same windows.
    data_spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentOutcome:
    decision: Literal["no_action", "retrained_not_promoted", "promoted", "failed"]
    summary: str
    backend: Literal["claude", "rules"]
    model: str | None = None
    error: str | None = None
    forced_summary_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
