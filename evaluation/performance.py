"""Realised performance check: the champion on its validation rows against the labelled current window.

The reference performance is the champion's primary metric on the validation rows its training job
held out (the rows of randomly chosen days of its training rows, never fitted on). A gradient boosting model scores
much higher on rows it was fitted on, so a reference measured in-sample would show a drop on every
window. When a champion has no validation predictions (it was trained elsewhere), the caller scores
the reference window instead and the result sets `reference_in_sample: true`.

The drop is reference minus current, oriented so that a positive drop always means the current window
is worse. Its interval comes from independent bootstraps of the two sets of rows, paired by resample
index, because the rows differ and no pairing by row exists.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.bootstrap import bootstrap_metric, percentile_interval
from evaluation.metrics import (
    LABEL_FALLBACK_METRIC,
    MetricFunction,
    MetricSpec,
    ModelOutput,
    encode_binary_target,
    get_metric,
    labels_to_binary,
    probabilities_to_labels,
)
from evaluation.summary import ScoreBasis
from watchtower.jsonsafe import finite_or_none
from watchtower.settings import TaskType

EvidenceKind = Literal["realised", "estimated"]
PerformanceStatus = Literal["available", "no_champion", "no_labels", "not_supported"]
ReferenceSource = Literal["validation", "reference_window"]

# Seed offset of the current window's resamples, so that the two windows never share draws even
# when they have the same number of rows.
CURRENT_SEED_OFFSET = 7919


@dataclass(frozen=True)
class MetricInterval:
    """One metric on one set of rows, with its percentile bootstrap interval.

    `n_skipped` counts resamples on which the metric was undefined (one class drawn) and which were
    left out of the interval. A value that cannot be computed is None.
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_rows: int
    n_skipped: int = 0


@dataclass(frozen=True)
class PerformanceDrop:
    """Reference minus current on one metric, oriented so that a positive drop means worse now.

    `significant` is True only when the drop reaches `margin` and the interval's lower bound is above
    zero, so a drop within the noise of either window never counts.
    """

    drop: float | None
    ci_low: float | None
    ci_high: float | None
    confidence_level: float
    n_resamples: int
    n_skipped: int
    margin: float
    significant: bool


@dataclass
class PerformanceResult:
    """The outcome of a realised check or an estimate, with the numbers behind it.

    `status` other than "available" means there is no performance evidence, and `message` gives the
    reason. `details` is filled for estimates only: the method, the calibration and the expected
    confusion matrix.
    """

    kind: EvidenceKind
    status: PerformanceStatus
    message: str
    model_name: str
    champion_version: str | None = None
    metric: str | None = None
    higher_is_better: bool = True
    basis: ScoreBasis | None = None
    reference: MetricInterval | None = None
    current: MetricInterval | None = None
    drop: PerformanceDrop | None = None
    reference_source: ReferenceSource | None = None
    reference_in_sample: bool = False
    n_current_rows: int = 0
    n_labelled_rows: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def significant_drop(self) -> bool:
        return self.status == "available" and self.drop is not None and self.drop.significant

    def to_dict(self) -> dict[str, Any]:
        return finite_or_none(asdict(self))  # type: ignore[no-any-return]


def unavailable(
    kind: EvidenceKind,
    status: PerformanceStatus,
    message: str,
    model_name: str,
    **extra: Any,
) -> PerformanceResult:
    """Return a result that carries no performance evidence, with the reason in `message`."""
    return PerformanceResult(
        kind=kind, status=status, message=message, model_name=model_name, **extra
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def bootstrap_samples(
    function: MetricFunction,
    y_true: np.ndarray,
    scores: np.ndarray,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """Return the metric on each of `n_resamples` seeded bootstrap resamples of the rows (NaN if undefined)."""
    return bootstrap_metric(function, y_true, [scores], n_resamples, seed)[0]


def interval_from_samples(
    value: float, samples: np.ndarray, n_rows: int, confidence_level: float
) -> MetricInterval:
    """Summarise a point value and its bootstrap samples as a `MetricInterval`.

    The percentile interval uses the finite samples only; with fewer than two, it is None.
    """
    defined = samples[np.isfinite(samples)]
    skipped = len(samples) - len(defined)
    point = _finite_or_none(float(value))
    if point is None or len(defined) < 2:
        return MetricInterval(point, None, None, n_rows, skipped)
    low, high = percentile_interval(defined, confidence_level)
    return MetricInterval(point, low, high, n_rows, skipped)


def independent_drop(
    higher_is_better: bool,
    reference: tuple[float | None, np.ndarray],
    current: tuple[float | None, np.ndarray],
    *,
    margin: float,
    confidence_level: float,
) -> PerformanceDrop:
    """Compute the drop from reference to current with an interval from two independent bootstraps.

    Parameters
    ----------
    higher_is_better : direction of the metric. For a metric where lower is better (log loss, RMSE)
        the drop is current minus reference, so a positive drop always means worse now.
    reference, current : (point value on the whole set of rows, metric on each bootstrap resample).
        Both sample arrays have the same length; resample i of one is combined with resample i of
        the other, which is valid because the two bootstraps draw independently.
    margin : smallest drop, in the metric's unit, that counts as significant.
    confidence_level : coverage of the percentile interval, for example 0.95.

    Returns
    -------
    PerformanceDrop; `significant` needs drop >= margin and a lower bound above 0.
    """
    sign = 1.0 if higher_is_better else -1.0
    reference_value, reference_samples = reference
    current_value, current_samples = current
    n_resamples = len(reference_samples)

    if reference_value is None or current_value is None:
        return PerformanceDrop(
            None, None, None, confidence_level, n_resamples, n_resamples, margin, False
        )
    drop = sign * (reference_value - current_value)
    differences = sign * (reference_samples - current_samples)
    defined = differences[np.isfinite(differences)]
    skipped = n_resamples - len(defined)
    if len(defined) < 2:
        return PerformanceDrop(
            drop, None, None, confidence_level, n_resamples, skipped, margin, False
        )
    low, high = percentile_interval(defined, confidence_level)
    significant = drop >= margin and low > 0.0
    return PerformanceDrop(
        drop, low, high, confidence_level, n_resamples, skipped, margin, significant
    )


# Aligning model outputs with the metric


def resolve_metric(
    primary_metric: str, task_type: TaskType, basis: ScoreBasis
) -> tuple[MetricSpec, str]:
    """Return the metric to compare on this basis, and a note when it is not the primary one.

    A primary metric that needs probabilities (ROC AUC, log loss) falls back to accuracy when the
    champion returns labels only, as the evaluator does.
    """
    spec = get_metric(primary_metric, task_type)
    if basis == "labels" and spec.needs_probabilities:
        fallback = get_metric(LABEL_FALLBACK_METRIC, task_type)
        note = (
            f"The champion returns labels only, so {fallback.name} is compared instead of the "
            f"primary metric {spec.name}."
        )
        return fallback, note
    return spec, ""


def metric_inputs(spec: MetricSpec, output: ModelOutput, y_raw: pd.Series) -> np.ndarray:
    """Return the model's output in the form `spec` expects: probabilities, 0/1 labels or values."""
    if output.basis == "values":
        return output.values
    if output.basis == "probabilities":
        if spec.needs_probabilities:
            return output.values
        return probabilities_to_labels(output.values)
    target = encode_binary_target(y_raw, list(pd.unique(output.values)))
    return labels_to_binary(output.values, target)


def encode_truth(task_type: TaskType, y_raw: pd.Series, output: ModelOutput) -> np.ndarray:
    """Encode the true values for the metric: 0/1 for classification, floats for regression."""
    if task_type == "regression":
        return y_raw.to_numpy(dtype=np.float64)
    labels = list(pd.unique(output.values)) if output.basis == "labels" else []
    return encode_binary_target(y_raw, labels).values


def _shared_basis(reference: ModelOutput, current: ModelOutput) -> ScoreBasis:
    if reference.basis == current.basis:
        return reference.basis
    # One side has probabilities and the other labels: compare on labels, as the evaluator does.
    return "labels"


def _as_basis(output: ModelOutput, basis: ScoreBasis) -> ModelOutput:
    if output.basis == basis:
        return output
    return ModelOutput("labels", probabilities_to_labels(output.values))


def describe_comparison(
    metric: str, reference: MetricInterval, current: MetricInterval, drop: PerformanceDrop
) -> str:
    """Describe both values, the drop and the verdict in one sentence with the numbers."""
    level = f"{drop.confidence_level:.0%}"
    measured = (
        f"{metric} {_format(reference.value)} [{_format(reference.ci_low)}, "
        f"{_format(reference.ci_high)}] on {reference.n_rows} reference rows against "
        f"{_format(current.value)} [{_format(current.ci_low)}, {_format(current.ci_high)}] on "
        f"{current.n_rows} current rows"
    )
    if drop.drop is None:
        return f"{measured}; the drop is undefined, so it is not significant."
    interval = (
        f"drop {drop.drop:.4f}, {level} interval [{_format(drop.ci_low)}, {_format(drop.ci_high)}]"
    )
    if drop.significant:
        verdict = (
            f"significant: it reaches the margin {drop.margin:g} and the interval lies above 0"
        )
    elif drop.drop < drop.margin:
        verdict = f"not significant: it is below the margin {drop.margin:g}"
    else:
        verdict = "not significant: the interval does not lie above 0"
    return f"{measured}; {interval}, {verdict}."


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@dataclass(frozen=True)
class LabelledScores:
    """The true values of some rows and the champion's output on the same rows."""

    y_true: pd.Series
    output: ModelOutput


def check_realised_performance(
    *,
    model_name: str,
    champion_version: str | None,
    reference: LabelledScores,
    current: LabelledScores,
    task_type: TaskType,
    primary_metric: str,
    margin: float,
    n_resamples: int,
    confidence_level: float,
    reference_source: ReferenceSource,
    n_current_rows: int,
    seed: int = 0,
) -> PerformanceResult:
    """Compare the champion's realised metric on the current window with its reference metric.

    Parameters
    ----------
    reference : the champion's validation rows (or, without them, the reference window).
    current : the labelled rows of the current window and the champion's output on them.
    margin : smallest drop, in the metric's unit, that counts as significant.
    reference_source : "validation" for held-out rows; "reference_window" marks the result
        `reference_in_sample`, because the champion was probably fitted on those rows.
    n_current_rows : rows of the current window, labelled or not.

    Returns
    -------
    PerformanceResult of kind "realised" with both intervals and the drop.
    """
    basis = _shared_basis(reference.output, current.output)
    spec, note = resolve_metric(primary_metric, task_type, basis)
    sides = []
    for index, side in enumerate((reference, current)):
        output = _as_basis(side.output, basis)
        y_true = encode_truth(task_type, side.y_true, output)
        scores = metric_inputs(spec, output, side.y_true)
        value = float(spec.function(y_true, scores, None))
        samples = bootstrap_samples(
            spec.function, y_true, scores, n_resamples, seed + index * CURRENT_SEED_OFFSET
        )
        sides.append((value, samples, len(y_true)))

    (ref_value, ref_samples, ref_rows), (cur_value, cur_samples, cur_rows) = sides
    reference_interval = interval_from_samples(ref_value, ref_samples, ref_rows, confidence_level)
    current_interval = interval_from_samples(cur_value, cur_samples, cur_rows, confidence_level)
    drop = independent_drop(
        spec.higher_is_better,
        (reference_interval.value, ref_samples),
        (current_interval.value, cur_samples),
        margin=margin,
        confidence_level=confidence_level,
    )

    warnings = [note] if note else []
    in_sample = reference_source == "reference_window"
    if in_sample:
        warnings.append(
            "The champion has no validation predictions, so its reference performance was measured "
            "on the reference window, which it was probably trained on. That value is optimistic "
            "and overstates the drop."
        )
    message = "Realised " + describe_comparison(
        spec.name, reference_interval, current_interval, drop
    )
    return PerformanceResult(
        kind="realised",
        status="available",
        message=" ".join([message, *warnings]),
        model_name=model_name,
        champion_version=champion_version,
        metric=spec.name,
        higher_is_better=spec.higher_is_better,
        basis=basis,
        reference=reference_interval,
        current=current_interval,
        drop=drop,
        reference_source=reference_source,
        reference_in_sample=in_sample,
        n_current_rows=n_current_rows,
        n_labelled_rows=cur_rows,
        warnings=warnings,
    )
