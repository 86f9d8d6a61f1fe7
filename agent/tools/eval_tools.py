"""The `evaluate_model` and `promote_model` tools: champion against challenger, then the alias move."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from pydantic import Field

from agent.tools.base import Tool, ToolEnv, ToolFailed, ToolInput
from agent.tools.guardrails import check_evaluate_allowed, check_promote_allowed

logger = logging.getLogger(__name__)


class EvaluateModelInput(ToolInput):
    pass


class PromoteModelInput(ToolInput):
    reason: str = Field(
        min_length=10,
        max_length=2000,
        description="Why the evaluation justifies promotion, citing the metric difference.",
    )


def _eval_result(report: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "primary_metric",
        "challenger",
        "champion",
        "difference",
        "min_improvement",
        "recommend_promotion",
        "reason",
        "n_eval_rows",
        "eval_window",
        "training_window",
    )
    return {key: report.get(key) for key in keys}


def evaluate_model(env: ToolEnv, args: EvaluateModelInput) -> dict[str, Any]:
    check_evaluate_allowed(env.progress)
    ctx = env.ctx
    retrain = env.progress.retrain
    split = env.progress.split
    assert retrain is not None and retrain.model is not None
    model_name = retrain.model.model_name

    env.progress.evaluated = True
    logger.info(
        "Evaluating %s for run %s on %s rows", model_name, ctx.run_id, len(split.evaluation)
    )
    try:
        report = ctx.actions.evaluate(
            ctx.run_id, model_name, split.evaluation, ctx.windows.schema, split.evaluation_window
        )
        stored = report.to_dict()
        ctx.store.save_eval_report(ctx.run_id, stored)
    except Exception as error:
        # The evaluator loads models from MLflow and scores them; any failure ends this call only.
        logger.warning(
            "Evaluation failed for run %s: %s: %s", ctx.run_id, type(error).__name__, error
        )
        raise ToolFailed(f"the evaluation failed: {type(error).__name__}: {error}") from error

    env.progress.eval_report = stored
    return _eval_result(stored)


def promote_model(env: ToolEnv, args: PromoteModelInput) -> dict[str, Any]:
    ctx = env.ctx
    stored = ctx.store.get_eval_report(ctx.run_id)
    check_promote_allowed(stored, env.progress)
    assert stored is not None
    model_name = stored["model_name"]
    version = stored["challenger"]["version"]

    logger.info("Promoting %s version %s for run %s", model_name, version, ctx.run_id)
    try:
        result = ctx.actions.promote(model_name, version, ctx.run_id)
    except Exception as error:
        # The registry call can fail on the network or on MLflow; the alias then stays where it was.
        logger.warning(
            "Promotion failed for run %s: %s: %s", ctx.run_id, type(error).__name__, error
        )
        raise ToolFailed(f"the promotion failed: {type(error).__name__}: {error}") from error

    env.progress.promotion = result
    return asdict(result)


TOOLS = [
    Tool(
        name="evaluate_model",
        description=(
            "Score the challenger registered by this run's retrain against the current champion on the "
            "held-out evaluation rows (disjoint from the training rows and later in time), with a paired "
            "bootstrap confidence interval on the primary metric. Stores the evaluation report and returns "
            "it, including recommend_promotion and its reason. Allowed only after a successful "
            "trigger_retrain in this run."
        ),
        input_model=EvaluateModelInput,
        run=evaluate_model,
    ),
    Tool(
        name="promote_model",
        description=(
            "Move the champion alias to the challenger evaluated in this run; the old champion keeps the "
            "previous-champion alias for rollback. Allowed only when this run's stored evaluation report "
            "recommends promotion."
        ),
        input_model=PromoteModelInput,
        run=promote_model,
    ),
]
