"""The `trigger_retrain` tool: build the retraining configuration and hand it to the retrain backend."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field

from agent.tools.base import Tool, ToolEnv, ToolFailed, ToolInput, ToolRejected
from agent.tools.guardrails import check_retrain_allowed
from training.config import RetrainingConfig

logger = logging.getLogger(__name__)


class TriggerRetrainInput(ToolInput):
    reason: str = Field(
        min_length=10,
        max_length=2000,
        description="Why the evidence (drift or a measured performance drop) warrants retraining, citing the numbers.",
    )


def _split_windows(env: ToolEnv) -> Any:
    # Imported here because the data package loads pandas-heavy modules the drift tools never need.
    from data.spec import split_for_retraining

    try:
        return split_for_retraining(env.ctx.windows, env.ctx.settings.eval_holdout_fraction)
    except (ValueError, KeyError) as error:
        env.progress.retrain_error = f"the windows could not be split for retraining: {error}"
        raise ToolFailed(env.progress.retrain_error) from error


def _check_schema_has_target(env: ToolEnv) -> str:
    target = env.ctx.windows.schema.target
    if not target:
        raise ToolRejected(
            "retrain_needs_target",
            "the data schema names no target column, so the training job has no labels; "
            "set DATA_TARGET_COLUMN to retrain.",
        )
    return target


def build_retraining_config(env: ToolEnv, reason: str, split: Any) -> RetrainingConfig:
    """Build the job configuration from the settings, the schema, the data spec and the split."""
    ctx = env.ctx
    settings = ctx.settings
    schema = ctx.windows.schema
    return RetrainingConfig(
        watchtower_run_id=ctx.run_id,
        dag_id=settings.retrain_dag_id,
        model_name=settings.mlflow_model_name,
        experiment_name=settings.mlflow_experiment_name,
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        task_type=settings.model_task_type,
        target=_check_schema_has_target(env),
        features=list(schema.features),
        categorical=list(schema.categorical),
        timestamp=schema.timestamp,
        data=ctx.data_spec,
        holdout_fraction=settings.eval_holdout_fraction,
        training_window=split.training_window,
        evaluation_window=split.evaluation_window,
        reason=reason,
    )


def _outcome_result(env: ToolEnv, config: RetrainingConfig) -> dict[str, Any]:
    outcome = env.progress.retrain
    assert outcome is not None
    model = outcome.model
    return {
        "backend": outcome.backend,
        "external_run_id": outcome.external_run_id,
        "state": outcome.state,
        "model_name": model.model_name if model else config.model_name,
        "model_version": model.version if model else None,
        "mlflow_run_id": model.run_id if model else None,
        "mlflow_run_url": model.run_url if model else None,
        "failed_tasks": outcome.failed_tasks,
        "message": outcome.message,
        "duration_seconds": outcome.duration_seconds,
        "training_window": config.training_window,
        "evaluation_window": config.evaluation_window,
    }


def trigger_retrain(env: ToolEnv, args: TriggerRetrainInput) -> dict[str, Any]:
    check_retrain_allowed(
        env.ctx.drift_report, env.progress, env.ctx.settings.performance_drop_margin
    )
    _check_schema_has_target(env)

    # Marked before the split and the backend call, so a retrain that fails on the way still counts
    # as this run's one retrain.
    env.progress.retrain_requested = True
    split = _split_windows(env)
    env.progress.split = split
    config = build_retraining_config(env, args.reason, split)
    logger.info("Triggering retrain for run %s (dag %s)", env.ctx.run_id, config.dag_id)
    try:
        env.progress.retrain = env.ctx.actions.trigger_retrain(config)
    except Exception as error:
        # Any failure of the backend, MLflow or the network ends this tool call, not the run.
        env.progress.retrain_error = f"{type(error).__name__}: {error}"
        logger.warning("Retrain failed for run %s: %s", env.ctx.run_id, env.progress.retrain_error)
        raise ToolFailed(
            f"the retraining job could not run: {env.progress.retrain_error}"
        ) from error

    result = _outcome_result(env, config)
    if env.progress.retrain.state != "success":
        env.progress.retrain_error = (
            f"job {env.progress.retrain.external_run_id} ended {env.progress.retrain.state}"
        )
    return result


TOOLS = [
    Tool(
        name="trigger_retrain",
        description=(
            "Start the external retraining job for the monitored model and wait until it has registered a "
            "new model version in MLflow. The job trains on the reference window plus the earlier part "
            "of the current window; the latest part of the current window is held out for evaluate_model. "
            "Allowed only when this run shows dataset drift, target drift or a significant realised "
            "performance drop measured by check_model_performance, and at most once per run. "
            "Returns the job's state, its run id and the new model version."
        ),
        input_model=TriggerRetrainInput,
        run=trigger_retrain,
    ),
]
