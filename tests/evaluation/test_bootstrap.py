"""The paired bootstrap: resampling, skipped resamples and coverage of a known difference."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import metrics
from evaluation.bootstrap import paired_bootstrap_difference, percentile_interval, resample_counts


def test_counts_sum_to_rows():
    counts = np.vstack(list(resample_counts(50, 30, seed=3)))
    assert counts.shape == (30, 50)
    assert np.all(counts.sum(axis=1) == 50)


def test_counts_independent_of_block_size():
    small_blocks = np.vstack(list(resample_counts(50, 30, seed=3, max_block_cells=100)))
    one_block = np.vstack(list(resample_counts(50, 30, seed=3)))
    assert np.array_equal(small_blocks, one_block)


def test_counts_empty_window_rejected():
    with pytest.raises(ValueError, match="empty"):
        next(resample_counts(0, 10, seed=0))


def test_percentile_interval_quantiles():
    low, high = percentile_interval(np.arange(101, dtype=float), 0.9)
    assert low == pytest.approx(5.0)
    assert high == pytest.approx(95.0)


def test_identical_models_difference_zero():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    scores = rng.random(200)
    result = paired_bootstrap_difference(
        metrics.roc_auc, True, y, scores, scores, n_resamples=200, confidence_level=0.95
    )
    assert result.difference == 0.0
    assert result.ci_low == 0.0
    assert result.ci_high == 0.0


def test_lower_is_better_oriented_positive():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    champion = y + 1.0
    challenger = y + 0.5
    result = paired_bootstrap_difference(
        metrics.rmse, False, y, champion, challenger, n_resamples=100, confidence_level=0.95
    )
    assert result.difference == pytest.approx(0.5)


def test_rare_class_resamples_skipped():
    # One positive among 10 rows: a resample misses it with probability 0.9 ** 10 = 0.35.
    y = np.array([1] + [0] * 9)
    scores = np.linspace(0.9, 0.0, 10)
    result = paired_bootstrap_difference(
        metrics.roc_auc,
        True,
        y,
        scores,
        scores[::-1].copy(),
        n_resamples=400,
        confidence_level=0.95,
    )
    assert 100 < result.n_skipped < 180
    assert result.ci_low is not None


def test_one_class_window_has_no_interval():
    y = np.zeros(60, dtype=int)
    scores = np.linspace(0, 1, 60)
    result = paired_bootstrap_difference(
        metrics.roc_auc, True, y, scores, scores, n_resamples=100, confidence_level=0.95
    )
    assert result.difference is None
    assert result.ci_low is None
    assert result.n_skipped == 100


def test_interval_covers_true_difference():
    # Each model is right on a row independently, with probability 0.80 and 0.85, so the true
    # accuracy difference is 0.05. A 90% interval should cover it in about 90% of windows.
    true_difference = 0.05
    covered = 0
    windows = 60
    for seed in range(windows):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 400)
        champion = np.where(rng.random(400) < 0.80, y, 1 - y)
        challenger = np.where(rng.random(400) < 0.85, y, 1 - y)
        result = paired_bootstrap_difference(
            metrics.accuracy,
            True,
            y,
            champion,
            challenger,
            n_resamples=300,
            confidence_level=0.9,
            seed=seed,
        )
        assert result.ci_low is not None and result.ci_high is not None
        covered += result.ci_low <= true_difference <= result.ci_high
    assert 0.8 * windows <= covered <= windows
