"""Champion against challenger on the same labelled rows, with a paired bootstrap and a recommendation.

Both models are loaded as pyfunc models and score the same evaluation rows. For classification,
probability metrics (ROC AUC, log loss) are computed only when both models return probabilities.
When either returns labels only, both are scored on labels, so their metrics compare like with like. The recommendation to promote needs an improvement of the primary metric of at least
`min_improvement` and a paired bootstrap interval whose lower bound is above 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from data.base import DataSchema
from evaluation.bootstrap import PairedDifference, paired_bootstrap_difference
from evaluation.metrics import (
    LABEL_FALLBACK_METRIC,
    MetricSpec,
    ModelOutput,
    compute_metrics,
    encode_binary_target,
    get_metric,
    labels_to_binary,
    probabilities_to_labels,
    read_model_output,
)
from evaluation.summary import EvalReport, MetricDifference, ModelScore, ScoreBasis
from training.registry import RegisteredVersion
from watchtower.settings import TaskType

logger = logging.getLogger(__name__)

ModelLoader = Callable[[RegisteredVersion], Any]


class EvaluationError(RuntimeError):
    """Raised when a model cannot be loaded or scored; the message names the model version."""


def load_pyfunc(version: RegisteredVersion) -> Any:
    """Load a version through its `models:/` URI with the process-wide MLflow registry URI."""
    return mlflow.pyfunc.load_model(version.model_uri)


def _describe(version: RegisteredVersion) -> str:
    return f"version {version.version}"


def _format(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


# Rows and predictions


def _evaluation_rows(frame: pd.DataFrame, schema: DataSchema) -> tuple[pd.DataFrame, pd.Series]:
    if schema.target is None or schema.target not in frame.columns:
        raise ValueError(
            f"the evaluation frame has no target column {schema.target!r}; set DATA_TARGET_COLUMN to the "
            "column with the true labels or values"
        )
    missing_features = [column for column in schema.features if column not in frame.columns]
    if missing_features:
        raise ValueError(f"the evaluation frame lacks feature columns {missing_features}")

    labelled = frame[frame[schema.target].notna()]
    if len(labelled) < len(frame):
        logger.info("Dropped %s evaluation rows without a target value", len(frame) - len(labelled))
    if labelled.empty:
        raise ValueError(
            f"the evaluation frame has no row with a value in target column {schema.target!r}"
        )
    return labelled[schema.features], labelled[schema.target]


def _predict(
    load: ModelLoader, version: RegisteredVersion, features: pd.DataFrame, task_type: TaskType
) -> ModelOutput:
    try:
        model = load(version)
    except Exception as error:
        raise EvaluationError(f"could not load model {version.model_uri}: {error}") from error
    try:
        raw = model.predict(features)
    except Exception as error:
        raise EvaluationError(
            f"model {version.model_uri} failed to predict on the evaluation rows: {error}"
        ) from error
    try:
        return read_model_output(raw, task_type, len(features))
    except ValueError as error:
        raise EvaluationError(f"model {version.model_uri}: {error}") from error


@dataclass
class _Scored:
    """Both models' scores on one shared basis, and the true values encoded for that basis."""

    basis: ScoreBasis
    y_true: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray | None
    note: str = ""


def _labels_of(output: ModelOutput | None) -> list[Any]:
    if output is None or output.basis != "labels":
        return []
    return list(pd.unique(output.values))


def _to_label_scores(output: ModelOutput, target: Any) -> np.ndarray:
    if output.basis == "probabilities":
        return probabilities_to_labels(output.values)
    return labels_to_binary(output.values, target)


def _basis_note(
    challenger: RegisteredVersion,
    challenger_out: ModelOutput,
    champion: RegisteredVersion | None,
    champion_out: ModelOutput | None,
) -> str:
    label_only = [f"challenger {_describe(challenger)}"] if challenger_out.basis == "labels" else []
    if champion is not None and champion_out is not None and champion_out.basis == "labels":
        label_only.append(f"champion {_describe(champion)}")
    subject = " and ".join(label_only)
    verb = "return" if len(label_only) > 1 else "returns"
    scope = "both models are scored on labels" if champion is not None else "it is scored on labels"
    return (
        f"The {subject} {verb} labels only, so {scope} and roc_auc and log_loss are not computed."
    )


def _align_classification(
    y: pd.Series,
    challenger: RegisteredVersion,
    challenger_out: ModelOutput,
    champion: RegisteredVersion | None,
    champion_out: ModelOutput | None,
) -> _Scored:
    target = encode_binary_target(y, _labels_of(challenger_out) + _labels_of(champion_out))
    outputs = [challenger_out] + ([champion_out] if champion_out is not None else [])

    if all(output.basis == "probabilities" for output in outputs):
        champion_scores = champion_out.values if champion_out is not None else None
        return _Scored("probabilities", target.values, challenger_out.values, champion_scores)

    champion_labels = _to_label_scores(champion_out, target) if champion_out is not None else None
    note = _basis_note(challenger, challenger_out, champion, champion_out)
    return _Scored(
        "labels", target.values, _to_label_scores(challenger_out, target), champion_labels, note
    )


def _align(
    task_type: TaskType,
    y: pd.Series,
    challenger: RegisteredVersion,
    challenger_out: ModelOutput,
    champion: RegisteredVersion | None,
    champion_out: ModelOutput | None,
) -> _Scored:
    if task_type == "classification":
        return _align_classification(y, challenger, challenger_out, champion, champion_out)
    if not pd.api.types.is_numeric_dtype(y):
        raise ValueError(f"a regression target must be numeric, got dtype {y.dtype}")
    champion_values = champion_out.values if champion_out is not None else None
    return _Scored("values", y.to_numpy(dtype=np.float64), challenger_out.values, champion_values)


# Primary metric and recommendation


def _resolve_primary(
    primary_metric: str, task_type: TaskType, basis: ScoreBasis
) -> tuple[MetricSpec, str]:
    spec = get_metric(primary_metric, task_type)
    if basis == "labels" and spec.needs_probabilities:
        fallback = get_metric(LABEL_FALLBACK_METRIC, task_type)
        note = f"The primary metric {spec.name} needs probabilities, so {fallback.name} is used instead."
        return fallback, note
    return spec, ""


def _undefined_reason(y_true: np.ndarray, basis: ScoreBasis) -> str:
    if basis != "values" and len(np.unique(y_true)) < 2:
        return " (the evaluation window has one class only)"
    return ""


def _judge_alone(
    spec: MetricSpec, challenger: RegisteredVersion, value: float | None, scored: _Scored
) -> tuple[bool, str]:
    if value is None:
        reason = (
            f"No champion to compare with, and the challenger's {spec.name} is undefined"
            f"{_undefined_reason(scored.y_true, scored.basis)}, so it is not recommended."
        )
        return False, reason
    reason = (
        f"No champion to compare with, so challenger {_describe(challenger)} is judged on its own: "
        f"{spec.name} {_format(value)} on {len(scored.y_true)} rows. It is recommended as the first champion."
    )
    return True, reason


def _judge_pair(
    spec: MetricSpec,
    challenger: RegisteredVersion,
    champion: RegisteredVersion,
    values: tuple[float | None, float | None],
    paired: PairedDifference,
    min_improvement: float,
    scored: _Scored,
) -> tuple[bool, str]:
    challenger_value, champion_value = values
    direction = "higher" if spec.higher_is_better else "lower"
    measured = (
        f"Challenger {_describe(challenger)} has {spec.name} {_format(challenger_value)} and champion "
        f"{_describe(champion)} {_format(champion_value)} on {len(scored.y_true)} rows ({direction} is better)."
    )
    if paired.difference is None:
        undefined = _undefined_reason(scored.y_true, scored.basis)
        return (
            False,
            f"{measured} {spec.name} is undefined{undefined}, so the models are not compared and the challenger is not promoted.",
        )

    level = f"{paired.confidence_level:.0%}"
    if paired.ci_low is None or paired.ci_high is None:
        interval = f"The {level} paired bootstrap interval is undefined ({paired.n_skipped} of {paired.n_resamples} resamples skipped)."
        return False, f"{measured} Improvement {paired.difference:.4f}. {interval} Not promoted."

    interval = (
        f"Improvement {paired.difference:.4f}, {level} paired bootstrap interval "
        f"[{paired.ci_low:.4f}, {paired.ci_high:.4f}] over {paired.n_resamples - paired.n_skipped} resamples."
    )
    failures = []
    if paired.difference < min_improvement:
        failures.append(f"the improvement is below the minimum {min_improvement:g}")
    if paired.ci_low <= 0:
        failures.append("the interval does not lie above 0, so the difference may be noise")
    if failures:
        return False, f"{measured} {interval} Not promoted: {' and '.join(failures)}."
    return (
        True,
        f"{measured} {interval} Promotion recommended: the improvement reaches the minimum {min_improvement:g} and the interval lies above 0.",
    )


def _skipped_note(paired: PairedDifference | None) -> str:
    if paired is None or paired.n_skipped == 0 or paired.difference is None:
        return ""
    return f"{paired.n_skipped} of {paired.n_resamples} resamples left the metric undefined (one class) and were skipped."


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def evaluate_models(
    *,
    run_id: str,
    model_name: str,
    challenger: RegisteredVersion,
    champion: RegisteredVersion | None,
    eval_frame: pd.DataFrame,
    schema: DataSchema,
    task_type: TaskType,
    primary_metric: str,
    min_improvement: float,
    n_bootstrap: int,
    confidence_level: float,
    eval_window: dict[str, Any] | None = None,
    seed: int = 0,
    load_model: ModelLoader = load_pyfunc,
) -> EvalReport:
    """Score challenger and champion on `eval_frame` and recommend whether to promote the challenger.

    Without a champion the challenger is judged on its own and recommended when its primary metric
    is defined. `load_model` turns a version into an object with `predict(DataFrame)`; the default
    resolves `models:/` URIs through the process-wide MLflow registry URI.

    Raises
    ------
    ValueError
        For an unknown primary metric, a frame without the target or feature columns, or a target the
        task type cannot use.
    EvaluationError
        When a model cannot be loaded, fails to predict, or returns neither labels nor probabilities.
    """
    get_metric(primary_metric, task_type)
    features, y = _evaluation_rows(eval_frame, schema)
    logger.info(
        "Evaluating model %r for run %s: challenger %s, champion %s, %s rows",
        model_name,
        run_id,
        challenger.version,
        champion.version if champion else None,
        len(features),
    )

    challenger_out = _predict(load_model, challenger, features, task_type)
    champion_out = (
        _predict(load_model, champion, features, task_type) if champion is not None else None
    )
    scored = _align(task_type, y, challenger, challenger_out, champion, champion_out)
    spec, fallback_note = _resolve_primary(primary_metric, task_type, scored.basis)

    challenger_metrics = compute_metrics(task_type, scored.basis, scored.y_true, scored.challenger)
    challenger_score = ModelScore(
        challenger.model_uri, challenger.version, challenger_metrics, scored.basis
    )
    champion_score: ModelScore | None = None
    difference: MetricDifference | None = None
    paired: PairedDifference | None = None

    if champion is None or scored.champion is None:
        recommend, verdict = _judge_alone(
            spec, challenger, challenger_metrics.get(spec.name), scored
        )
    else:
        champion_metrics = compute_metrics(task_type, scored.basis, scored.y_true, scored.champion)
        champion_score = ModelScore(
            champion.model_uri, champion.version, champion_metrics, scored.basis
        )
        paired = _paired_difference(spec, scored, n_bootstrap, confidence_level, seed)
        values = (challenger_metrics.get(spec.name), champion_metrics.get(spec.name))
        recommend, verdict = _judge_pair(
            spec, challenger, champion, values, paired, min_improvement, scored
        )
        difference = MetricDifference(
            metric=spec.name,
            difference=paired.difference,
            ci_low=paired.ci_low,
            ci_high=paired.ci_high,
            confidence_level=confidence_level,
            n_bootstrap=n_bootstrap,
            higher_is_better=spec.higher_is_better,
            n_skipped=paired.n_skipped,
        )

    reason = _join(scored.note, fallback_note, verdict, _skipped_note(paired))
    logger.info("Evaluation of run %s: recommend_promotion=%s. %s", run_id, recommend, reason)
    return EvalReport(
        run_id=run_id,
        model_name=model_name,
        primary_metric=spec.name,
        challenger=challenger_score,
        champion=champion_score,
        difference=difference,
        min_improvement=min_improvement,
        recommend_promotion=recommend,
        reason=reason,
        n_eval_rows=len(features),
        eval_window=dict(eval_window or {}),
    )


def _paired_difference(
    spec: MetricSpec, scored: _Scored, n_bootstrap: int, confidence_level: float, seed: int
) -> PairedDifference:
    assert scored.champion is not None
    challenger_scores = scored.challenger
    champion_scores = scored.champion
    if scored.basis == "probabilities" and not spec.needs_probabilities:
        challenger_scores = probabilities_to_labels(challenger_scores)
        champion_scores = probabilities_to_labels(champion_scores)
    return paired_bootstrap_difference(
        spec.function,
        spec.higher_is_better,
        scored.y_true,
        champion_scores,
        challenger_scores,
        n_resamples=n_bootstrap,
        confidence_level=confidence_level,
        seed=seed,
    )
