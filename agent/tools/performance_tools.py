"""The performance tools: the champion's realised metric on labelled current rows, and its estimate.

Both results are stored in the run's progress. The guardrails read the realised one: a significant
drop measured here, by code, allows a retrain like dataset or target drift does. A drop that the
decision maker only claims in its text allows nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from agent.tools.base import Tool, ToolEnv, ToolFailed, ToolInput

logger = logging.getLogger(__name__)

PerformanceKind = Literal["realised", "estimated"]


class CheckPerformanceInput(ToolInput):
    pass


class EstimatePerformanceInput(ToolInput):
    pass


def _run_performance(env: ToolEnv, kind: PerformanceKind) -> dict[str, Any]:
    ctx = env.ctx
    model_name = ctx.settings.mlflow_model_name
    logger.info("Checking %s performance of %s for run %s", kind, model_name, ctx.run_id)
    try:
        if kind == "realised":
            result = ctx.actions.check_performance(model_name, ctx.windows)
        else:
            result = ctx.actions.estimate_performance(model_name, ctx.windows)
    except Exception as error:
        # Loading the champion, reading its artifacts or scoring it can fail in MLflow or in the
        # model; the failure ends this call only.
        logger.warning(
            "The %s performance check failed for run %s: %s: %s",
            kind,
            ctx.run_id,
            type(error).__name__,
            error,
        )
        raise ToolFailed(
            f"the {kind} performance check failed: {type(error).__name__}: {error}"
        ) from error
    content = result.to_dict()
    env.progress.performance[kind] = content
    return content


def check_model_performance(env: ToolEnv, args: CheckPerformanceInput) -> dict[str, Any]:
    return _run_performance(env, "realised")


def estimate_model_performance(env: ToolEnv, args: EstimatePerformanceInput) -> dict[str, Any]:
    return _run_performance(env, "estimated")


TOOLS = [
    Tool(
        name="check_model_performance",
        description=(
            "Measure the champion's primary metric on the labelled rows of the current window and "
            "compare it with the champion's metric on its validation rows (held out from its "
            "training), each with a bootstrap interval, and the drop between them with its interval. "
            "drop.significant is true when the drop reaches PERFORMANCE_DROP_MARGIN and its interval "
            "lies above 0; such a drop allows trigger_retrain. status is no_labels when the current "
            "window has no labels, and no_champion when no model is deployed."
        ),
        input_model=CheckPerformanceInput,
        run=check_model_performance,
    ),
    Tool(
        name="estimate_model_performance",
        description=(
            "Estimate the champion's primary metric on the current window without labels "
            "(confidence-based performance estimation: its probabilities are calibrated on its "
            "validation rows and the expected confusion matrix is computed). Returns the estimate "
            "with a bootstrap interval, the validation metric and the estimated drop. It cannot see "
            "concept drift (a changed relation between features and target), and an estimated drop "
            "alone does not allow trigger_retrain. status is not_supported for regression or a "
            "champion without probabilities."
        ),
        input_model=EstimatePerformanceInput,
        run=estimate_model_performance,
    ),
]
