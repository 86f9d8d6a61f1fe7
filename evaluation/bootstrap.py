"""Seeded, paired bootstrap of evaluation metrics.

A resample draws n_rows rows with replacement. It is stored as row counts (how often each row was
drawn), so one resample is the same reweighting of the same rows for every model. The metric
functions of `evaluation.metrics` score a whole block of resamples in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.metrics import MetricFunction

# Upper bound on the cells of one block of counts (n_resamples_in_block * n_rows), which keeps a
# block at about 16 MB of float64 whatever the window size.
MAX_BLOCK_CELLS = 2_000_000


def resample_counts(
    n_rows: int, n_resamples: int, seed: int, max_block_cells: int = MAX_BLOCK_CELLS
) -> Iterator[np.ndarray]:
    """Yield bootstrap row counts in blocks of shape (n_in_block, n_rows), as float64.

    Row i of a block contains how many times each row was drawn in resample i, so every row sums to
    `n_rows`. The draws depend only on `seed`, not on the block size, because the generator's integers
    are consumed in the same order.
    """
    if n_rows < 1:
        raise ValueError(f"cannot resample {n_rows} rows; the evaluation window is empty")
    rng = np.random.default_rng(seed)
    block_size = max(1, max_block_cells // n_rows)

    for start in range(0, n_resamples, block_size):
        size = min(block_size, n_resamples - start)
        indices = rng.integers(0, n_rows, size=(size, n_rows))
        offsets = np.arange(size)[:, None] * n_rows
        counts = np.bincount((indices + offsets).ravel(), minlength=size * n_rows)
        yield counts.reshape(size, n_rows).astype(np.float64)


def bootstrap_metric(
    metric: MetricFunction,
    y_true: np.ndarray,
    scores: Sequence[np.ndarray],
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """Score several models on the same bootstrap resamples.

    Parameters
    ----------
    metric : a function of `evaluation.metrics` (y_true, scores, weights).
    y_true : array of shape (n_rows,).
    scores : one array of shape (n_rows,) per model, on the basis the metric expects.
    n_resamples : number of bootstrap resamples.
    seed : seed of the resampling; the same seed gives the same resamples.

    Returns
    -------
    Array of shape (n_models, n_resamples), NaN where the metric is undefined on a resample (for
    example ROC AUC on a resample that drew one class only).
    """
    blocks: list[np.ndarray] = []
    for counts in resample_counts(len(y_true), n_resamples, seed):
        blocks.append(
            np.vstack(
                [np.atleast_1d(metric(y_true, model_scores, counts)) for model_scores in scores]
            )
        )
    return np.hstack(blocks)


def percentile_interval(samples: np.ndarray, confidence_level: float) -> tuple[float, float]:
    """Percentile bootstrap interval: the (1 - c) / 2 and (1 + c) / 2 quantiles of the samples."""
    tail = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedDifference:
    """Challenger minus champion on one metric, oriented so that positive means the challenger is better.

    `difference` is measured on the whole window. The interval comes from the resamples on which
    the metric is defined for both models; `n_skipped` counts the others. A value that cannot be
    computed is None.
    """

    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence_level: float
    n_resamples: int
    n_skipped: int


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def paired_bootstrap_difference(
    metric: MetricFunction,
    higher_is_better: bool,
    y_true: np.ndarray,
    champion_scores: np.ndarray,
    challenger_scores: np.ndarray,
    *,
    n_resamples: int,
    confidence_level: float,
    seed: int = 0,
) -> PairedDifference:
    """Estimate the challenger's improvement over the champion with a paired percentile bootstrap.

    Both models are scored on the same resampled rows, so the interval reflects the difference
    between the models and not the noise of the window shared by both. For a metric where lower is
    better (RMSE, MAE, log loss) the difference is champion minus challenger, so positive always
    means better.

    Parameters
    ----------
    metric : a function of `evaluation.metrics`.
    higher_is_better : direction of the metric.
    y_true, champion_scores, challenger_scores : arrays of shape (n_rows,).
    n_resamples : number of bootstrap resamples.
    confidence_level : coverage of the interval, for example 0.95.
    seed : seed of the resampling.

    Returns
    -------
    PairedDifference; the interval is None when fewer than two resamples are defined for both models.
    """
    sign = 1.0 if higher_is_better else -1.0
    champion_value = float(metric(y_true, champion_scores, None))
    challenger_value = float(metric(y_true, challenger_scores, None))
    difference = _finite_or_none(sign * (challenger_value - champion_value))

    samples = bootstrap_metric(
        metric, y_true, [champion_scores, challenger_scores], n_resamples, seed
    )
    differences = sign * (samples[1] - samples[0])
    defined = differences[np.isfinite(differences)]
    n_skipped = n_resamples - len(defined)

    if difference is None or len(defined) < 2:
        return PairedDifference(difference, None, None, confidence_level, n_resamples, n_skipped)
    low, high = percentile_interval(defined, confidence_level)
    return PairedDifference(difference, low, high, confidence_level, n_resamples, n_skipped)
