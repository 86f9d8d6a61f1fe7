"""Multiple-testing correction: the p-value threshold for a family of per-feature tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import numpy as np

from watchtower.settings import Correction

CORRECTIONS: tuple[str, ...] = get_args(Correction)


def corrected_threshold(p_values: Sequence[float], alpha: float, correction: Correction) -> float:
    """Return the threshold at or below which a p-value of this family is significant.

    Parameters
    ----------
    p_values
        The p-values of all tests in the family (one per tested feature).
    alpha
        The significance level before correction: the family-wise error rate for ``bonferroni``, the
        false discovery rate for ``benjamini_hochberg``, the per-test level for ``none``.
    correction
        ``none`` returns `alpha`. ``bonferroni`` returns ``alpha / n``. ``benjamini_hochberg`` returns
        ``k * alpha / n`` for the largest rank k whose sorted p-value satisfies
        ``p_(k) <= k * alpha / n`` (Benjamini and Hochberg, 1995), or ``alpha / n`` when no p-value
        does, so that the smallest p-value is judged against the strictest step.

    Returns
    -------
    float
        The threshold; with an empty family it is `alpha`.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose one of {list(CORRECTIONS)}")
    n_tests = len(p_values)
    if correction == "none" or n_tests == 0:
        return alpha
    if correction == "bonferroni":
        return alpha / n_tests

    ranked = np.sort(np.asarray(p_values, dtype=np.float64))
    steps = alpha * np.arange(1, n_tests + 1) / n_tests
    passing = np.nonzero(ranked <= steps)[0]
    if passing.size == 0:
        return alpha / n_tests
    return float(steps[passing[-1]])
