"""Per-feature drift statistics: two-sample tests, effect sizes and the missing-share test.

The functions here only score a feature. Thresholds, multiple-testing correction and verdicts live in
`drift.engine`, so that every test is judged the same way.

Numeric features get the two-sample Kolmogorov-Smirnov test, PSI on reference-quantile bins, the
Wasserstein distance divided by the reference standard deviation, and the Jensen-Shannon distance on
the same bins. Categorical features get a chi-squared homogeneity test on the 2 x k contingency table,
PSI per category and the Jensen-Shannon distance over categories. Both get a chi-squared test on the
share of missing values. Missing values (NaN, None) and infinite values are left out of the value
tests and counted separately.

PSI (population stability index) is ``sum((c - r) * ln(c / r))`` over bins, where ``r`` and ``c`` are
the reference and current shares. An empty bin would make it infinite, so a zero share is replaced by
half an observation of the larger window, ``0.5 / max(n_reference, n_current)``. That substitute is
below every non-zero share either window can have (at least ``1 / n`` of its own size), so an absent
category never looks more common than a category seen once. Shares are not renormalised after the
substitution. Common reading: below 0.1 stable, 0.1 to 0.25 moderate shift, above 0.25 large shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from drift.columns import category_counts
from drift.report import FeatureKind

# Bins for numeric PSI and Jensen-Shannon: deciles of the reference window.
DEFAULT_BINS = 10

# scipy's ks_2samp computes an exact p-value up to this many values per sample (method="auto").
KS_EXACT_MAX_N = 10_000


def _finite_p_value(p_value: float) -> float:
    """Clip a p-value to [0, 1]; a p-value that underflowed stays 0.0."""
    if math.isnan(p_value):
        raise ValueError("a test returned a NaN p-value; its input should have been caught earlier")
    return float(min(max(p_value, 0.0), 1.0))


def _cdf_gaps(
    reference_sorted: np.ndarray, current_sorted: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate F_reference - F_current after each value of the merged sample.

    Returns the gaps, the merged sorted values and a mask of the last position of each run of equal
    values, where the right-continuous CDFs are read.
    """
    n_ref = reference_sorted.size
    merged = np.concatenate([reference_sorted, current_sorted])
    # A stable sort (timsort for floats) merges the two sorted runs in linear time.
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    from_reference = order < n_ref
    cdf_ref = np.cumsum(from_reference, dtype=np.int64) / n_ref
    cdf_cur = np.cumsum(~from_reference, dtype=np.int64) / current_sorted.size
    last_of_tie = np.empty(values.size, dtype=bool)
    last_of_tie[:-1] = values[1:] != values[:-1]
    last_of_tie[-1] = True
    return cdf_ref - cdf_cur, values, last_of_tie


def ks_and_wasserstein(
    reference_sorted: np.ndarray, current_sorted: np.ndarray
) -> tuple[float, float, float]:
    """Run the two-sided two-sample Kolmogorov-Smirnov test and measure the Wasserstein distance.

    Both come from one pass over the merged sample, because both read the gap between the two
    empirical CDFs.

    Parameters
    ----------
    reference_sorted, current_sorted
        Finite values of each window in ascending order, at least one in each.

    Returns
    -------
    statistic, p_value, wasserstein
        D, the largest absolute gap between the two empirical CDFs (0 to 1), and its p-value. With at
        most `KS_EXACT_MAX_N` values per sample the p-value is exact (scipy's ``ks_2samp``,
        ``method="auto"``). Above that it comes from Smirnov's asymptotic distribution ``kstwo`` with
        ``n = round(n1 * n2 / (n1 + n2))``, as in scipy. A p-value that underflows is 0.0. The
        Wasserstein-1 distance is the area between the two CDFs, in the feature's units (scipy's
        ``wasserstein_distance`` gives the same value).
    """
    n_ref = reference_sorted.size
    n_cur = current_sorted.size
    cdf_gap, values, last_of_tie = _cdf_gaps(reference_sorted, current_sorted)
    wasserstein = float(np.sum(np.abs(cdf_gap[:-1]) * np.diff(values)))

    if max(n_ref, n_cur) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(reference_sorted, current_sorted, method="auto")
        return float(result.statistic), _finite_p_value(float(result.pvalue)), wasserstein

    statistic = float(np.max(np.abs(cdf_gap[last_of_tie])))
    effective_n = float(np.round(n_ref * n_cur / (n_ref + n_cur)))
    p_value = float(stats.kstwo.sf(statistic, effective_n))
    return statistic, _finite_p_value(p_value), wasserstein


def normalised_wasserstein(
    reference_sorted: np.ndarray, current_sorted: np.ndarray, distance: float
) -> float:
    """Divide a Wasserstein distance by the reference standard deviation, making it unit-free.

    A constant reference has no spread, so the pooled standard deviation of both windows is used
    instead. When both windows are the same constant, the result is 0.0.
    """
    spread = float(np.std(reference_sorted))
    if spread == 0.0:
        spread = float(np.std(np.concatenate([reference_sorted, current_sorted])))
    if spread == 0.0:
        return 0.0
    return distance / spread


def quantile_cut_points(reference_sorted: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Return the inner bin edges for PSI, taken from the reference window only.

    The edges are the distinct reference quantiles at 0, 1/n_bins, ..., 1 (linear interpolation,
    numpy's default) without the first and the last, because the outer bins are open:
    (-inf, e1], (e1, e2], ..., (ek, inf). Repeated quantiles of zero-heavy or constant data merge, so
    the reference `[0]*80 + [1..20]` gets edges [0.2, 10.1] and a constant gets one bin. When that
    leaves no edge although the reference has two or more distinct values, the reference minimum
    becomes the only edge, so a column such as `[0]*95 + [1]*5` still gets two bins.
    """
    if reference_sorted.size == 0:
        return np.empty(0)
    quantiles = np.quantile(reference_sorted, np.linspace(0.0, 1.0, n_bins + 1))
    edges = np.unique(quantiles)[1:-1]
    if edges.size == 0 and reference_sorted[0] != reference_sorted[-1]:
        edges = reference_sorted[:1].copy()
    return edges


def bin_counts(values_sorted: np.ndarray, cut_points: np.ndarray) -> np.ndarray:
    """Count sorted values in the right-closed bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    at_or_below = np.searchsorted(values_sorted, cut_points, side="right")
    bounds = np.concatenate([[0], at_or_below, [values_sorted.size]])
    return np.diff(bounds)


def empty_bin_share(n_reference: int, n_current: int) -> float:
    """Return the share that replaces a zero share in PSI and KL: half an observation of the
    larger window, below every non-zero share either window can have."""
    return 0.5 / max(n_reference, n_current, 1)


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Compute the population stability index between two histograms on the same bins.

    Parameters
    ----------
    reference_counts, current_counts
        Counts per bin (or per category), aligned, each with a positive total.

    Returns
    -------
    float
        ``sum((c - r) * ln(c / r))`` over bins of shares, natural log, 0 for identical histograms and
        never negative. Zero shares are replaced by `empty_bin_share` (see the module docstring), so
        the value is always finite.
    """
    n_ref = int(np.sum(reference_counts))
    n_cur = int(np.sum(current_counts))
    floor = empty_bin_share(n_ref, n_cur)
    ref = np.maximum(_shares(reference_counts), floor)
    cur = np.maximum(_shares(current_counts), floor)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def kl_divergence(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Compute the Kullback-Leibler divergence KL(current || reference) between two histograms.

    Returns
    -------
    float
        ``sum(c * ln(c / r))`` in nats (natural log): 0 for identical histograms, growing without bound
        as the current window puts mass where the reference had little. Zero shares are replaced by
        `empty_bin_share` and both histograms are then renormalised to sum to 1.
    """
    n_ref = int(np.sum(reference_counts))
    n_cur = int(np.sum(current_counts))
    floor = empty_bin_share(n_ref, n_cur)
    ref = np.maximum(_shares(reference_counts), floor)
    cur = np.maximum(_shares(current_counts), floor)
    ref = ref / ref.sum()
    cur = cur / cur.sum()
    return max(float(np.sum(cur * np.log(cur / ref))), 0.0)


def jensen_shannon_distance(reference_weights: np.ndarray, current_weights: np.ndarray) -> float:
    """Compute the Jensen-Shannon distance between two histograms, in base 2.

    Parameters
    ----------
    reference_weights, current_weights
        Non-negative counts or shares on the same bins; each is normalised to sum to 1.

    Returns
    -------
    float
        The square root of the Jensen-Shannon divergence with base-2 logarithms: 0 for identical
        distributions, 1 for distributions with disjoint support. It is computed in float64 and the
        divergence is clipped to [0, 1] before the square root, because rounding can push it just
        below 0 (scipy's ``jensenshannon`` returns NaN for equal float32 inputs). Reference: Lin (1991),
        "Divergence measures based on the Shannon entropy".
    """
    p = _shares(np.asarray(reference_weights, dtype=np.float64))
    q = _shares(np.asarray(current_weights, dtype=np.float64))
    m = 0.5 * (p + q)
    divergence = 0.5 * (_kl_base2(p, m) + _kl_base2(q, m))
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def _kl_base2(p: np.ndarray, m: np.ndarray) -> float:
    present = p > 0
    return float(np.sum(p[present] * np.log2(p[present] / m[present])))


def chi2_homogeneity(
    reference_counts: np.ndarray, current_counts: np.ndarray
) -> tuple[float, float, int]:
    """Test whether two windows share one categorical distribution (chi-squared homogeneity test).

    Parameters
    ----------
    reference_counts, current_counts
        Counts per category over the union of categories, aligned.

    Returns
    -------
    statistic, p_value, dof
        Pearson's chi-squared on the 2 x k contingency table (scipy's ``chi2_contingency``, with Yates'
        continuity correction when dof is 1), its p-value and the degrees of freedom, k - 1.
        Categories absent from both windows are dropped first. With fewer than two categories left
        (a constant column) there is nothing to compare: statistic 0.0, p-value 1.0, dof 0.
    """
    table = np.vstack([reference_counts, current_counts]).astype(np.int64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return 0.0, 1.0, 0
    result = stats.chi2_contingency(table)
    return float(result.statistic), _finite_p_value(float(result.pvalue)), int(result.dof)


def missing_share_test(
    missing_reference: int, n_reference: int, missing_current: int, n_current: int
) -> float:
    """Return the p-value of a chi-squared test on the share of missing values in two windows.

    The 2 x 2 table is [[present, missing] per window] (Yates' correction, as in
    `chi2_homogeneity`). With no missing value in either window, or every value missing in both,
    the p-value is 1.0.
    """
    reference_row = [n_reference - missing_reference, missing_reference]
    current_row = [n_current - missing_current, missing_current]
    return chi2_homogeneity(np.array(reference_row), np.array(current_row))[1]


@dataclass
class FeatureStatistics:
    """Everything measured on one feature, before any threshold is applied.

    `statistic` and `p_value` belong to `method` (`ks` or `chi2`); they are None when a window has
    no value to test. `n_reference` and `n_current` count the values that entered the value test.
    """

    name: str
    kind: FeatureKind
    method: str
    statistic: float | None = None
    p_value: float | None = None
    psi: float | None = None
    wasserstein: float | None = None
    jensen_shannon: float | None = None
    missing_reference: int = 0
    missing_current: int = 0
    rows_reference: int = 0
    rows_current: int = 0
    missing_p_value: float = 1.0
    non_finite_reference: int = 0
    non_finite_current: int = 0
    n_reference: int = 0
    n_current: int = 0
    new_categories: list[str] = field(default_factory=list)

    @property
    def missing_share_reference(self) -> float:
        return self.missing_reference / self.rows_reference if self.rows_reference else 0.0

    @property
    def missing_share_current(self) -> float:
        return self.missing_current / self.rows_current if self.rows_current else 0.0


def _split_numeric(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Return the sorted finite values, the count of missing (NaN) and of infinite values."""
    finite_mask = np.isfinite(values)
    if finite_mask.all():
        return np.sort(values), 0, 0
    missing = int(np.isnan(values).sum())
    finite = np.sort(values[finite_mask])
    return finite, missing, values.size - finite.size - missing


def numeric_statistics(name: str, reference: np.ndarray, current: np.ndarray) -> FeatureStatistics:
    """Score one numeric feature; `reference` and `current` are float64 with NaN for missing."""
    ref, missing_ref, infinite_ref = _split_numeric(reference)
    cur, missing_cur, infinite_cur = _split_numeric(current)
    result = FeatureStatistics(
        name=name,
        kind="numeric",
        method="ks",
        missing_reference=missing_ref,
        missing_current=missing_cur,
        rows_reference=reference.size,
        rows_current=current.size,
        non_finite_reference=infinite_ref,
        non_finite_current=infinite_cur,
        n_reference=ref.size,
        n_current=cur.size,
    )
    result.missing_p_value = missing_share_test(
        missing_ref, reference.size, missing_cur, current.size
    )
    if ref.size == 0 or cur.size == 0:
        return result

    result.statistic, result.p_value, distance = ks_and_wasserstein(ref, cur)
    cut_points = quantile_cut_points(ref)
    ref_counts = bin_counts(ref, cut_points)
    cur_counts = bin_counts(cur, cut_points)
    result.psi = psi(ref_counts, cur_counts)
    result.jensen_shannon = jensen_shannon_distance(ref_counts, cur_counts)
    result.wasserstein = normalised_wasserstein(ref, cur, distance)
    return result


def categorical_statistics(
    name: str, reference: pd.Series, current: pd.Series
) -> FeatureStatistics:
    """Score one categorical feature, comparing values by their string label."""
    reference_counts = category_counts(reference)
    current_counts = category_counts(current)
    categories = reference_counts.index.union(current_counts.index, sort=False)
    ref = reference_counts.reindex(categories, fill_value=0).to_numpy(dtype=np.int64)
    cur = current_counts.reindex(categories, fill_value=0).to_numpy(dtype=np.int64)
    new = current_counts.index.difference(reference_counts.index)

    missing_ref = len(reference) - int(ref.sum())
    missing_cur = len(current) - int(cur.sum())
    result = FeatureStatistics(
        name=name,
        kind="categorical",
        method="chi2",
        missing_reference=missing_ref,
        missing_current=missing_cur,
        rows_reference=len(reference),
        rows_current=len(current),
        n_reference=int(ref.sum()),
        n_current=int(cur.sum()),
        new_categories=sorted(str(label) for label in new),
    )
    result.missing_p_value = missing_share_test(
        missing_ref, len(reference), missing_cur, len(current)
    )
    if ref.sum() == 0 or cur.sum() == 0:
        return result

    result.statistic, result.p_value, _ = chi2_homogeneity(ref, cur)
    result.psi = psi(ref, cur)
    result.jensen_shannon = jensen_shannon_distance(ref, cur)
    return result
