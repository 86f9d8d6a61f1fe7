"""Request and response bodies of the API, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.run_store import ReportRecord, RunRecord, StepRecord
from agent.steps import Decision, RunStatus, StepKind


def _check_window(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    from data.windows import parse_window

    # Errors must be ValueError so that pydantic reports them against the field.
    try:
        parse_window(value)
    except ValueError as exc:
        if value in str(exc):
            raise
        raise ValueError(
            f"invalid window {value!r}: {exc}; write a month like '2013-07' or a range like "
            "'2013-01:2013-03'"
        ) from exc
    return value.strip()


class RunCreate(BaseModel):
    """The body of `POST /pipeline/run`; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    trigger_source: str = Field(
        default="manual_api",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:/-]+$",
        description="Who or what started the run, for the audit trail (letters, digits, _ . : / -).",
    )
    dry_run: bool = Field(
        default=False, description="Stop after drift detection, with no retraining."
    )
    reference_window: str | None = Field(
        default=None,
        description="Reference time window such as '2013-01:2013-03'; defaults to DATA_REFERENCE_WINDOW.",
    )
    current_window: str | None = Field(
        default=None,
        description="Current time window such as '2013-07'; defaults to DATA_CURRENT_WINDOW.",
    )
    model_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f]+$",
        description="Registered model the run watches; defaults to MLFLOW_MODEL_NAME.",
    )

    _windows = field_validator("reference_window", "current_window")(_check_window)


class RunStarted(BaseModel):
    run_id: str
    status: Literal["running"] = "running"
    triggered_at: datetime


class ActiveRunConflict(BaseModel):
    detail: str
    active_run_id: str


class ErrorDetail(BaseModel):
    detail: str


class UsagePublic(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


class DecisionMakerPublic(BaseModel):
    backend: str | None
    model: str | None


class RunPublic(BaseModel):
    run_id: str
    status: RunStatus
    trigger_source: str
    dry_run: bool
    model_name: str
    triggered_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    decision: Decision | None
    error: str | None
    summary: str | None
    decision_maker: DecisionMakerPublic
    usage: UsagePublic
    step_count: int
    request: dict[str, Any]

    @classmethod
    def from_record(cls, run: RunRecord) -> RunPublic:
        return cls(
            run_id=run.id,
            status=run.status,
            trigger_source=run.trigger_source,
            dry_run=run.dry_run,
            model_name=run.model_name,
            triggered_at=run.triggered_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            decision=run.decision,
            error=run.error,
            summary=run.summary,
            decision_maker=DecisionMakerPublic(
                backend=run.decision_backend, model=run.decision_model
            ),
            usage=UsagePublic(**run.usage),
            step_count=run.step_count,
            request=run.request,
        )


class StepPublic(BaseModel):
    seq: int
    kind: StepKind
    tool_name: str | None
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    text: str | None
    usage: dict[str, int] | None
    duration_ms: float | None
    created_at: datetime

    @classmethod
    def from_record(cls, step: StepRecord) -> StepPublic:
        return cls(
            seq=step.seq,
            kind=step.kind,
            tool_name=step.tool_name,
            input=step.input,
            output=step.output,
            text=step.text,
            usage=step.usage,
            duration_ms=step.duration_ms,
            created_at=step.created_at,
        )


class RunDetail(RunPublic):
    """A run with its full ordered trace: reasoning, tool calls, tool results and status steps."""

    steps: list[StepPublic]


class RunPage(BaseModel):
    items: list[RunPublic]
    total: int
    limit: int
    offset: int


class ReportPublic(BaseModel):
    """A stored drift snapshot or evaluation report and the run it belongs to."""

    run_id: str
    created_at: datetime | None
    report: dict[str, Any]

    @classmethod
    def from_record(cls, record: ReportRecord) -> ReportPublic:
        return cls(run_id=record.run_id, created_at=record.created_at, report=record.report)


class RunEnd(BaseModel):
    """The data of the stream's final `end` event."""

    run_id: str
    status: RunStatus
    decision: Decision | None
    error: str | None
    summary: str | None


class HealthCheck(BaseModel):
    ok: bool
    detail: str
    duration_ms: float


class HealthPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, HealthCheck]
