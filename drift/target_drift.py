"""Drift of the target (or of the model's prediction column) between the two windows.

A categorical target (classes) gets the chi-squared homogeneity test and a numeric one (regression)
the two-sample KS test, as features do. The effect sizes are PSI and the Kullback-Leibler divergence
KL(current || reference) in nats (natural log), on the classes or on the reference-decile bins. Zero
shares are replaced by half an observation of the larger window (see `drift.statistical`). It drifts
when the p-value is at or below alpha (one test, so no correction) and PSI reaches the PSI threshold.
Evidently's `ValueDrift` on the same column is attached as a second opinion when requested.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from drift.columns import (
    DriftInputError,
    category_counts,
    category_labels,
    numeric_values,
    plan_column,
)
from drift.feature_drift import run_value_drift
from drift.report import FeatureKind, TargetDrift
from drift.statistical import (
    bin_counts,
    chi2_homogeneity,
    kl_divergence,
    ks_and_wasserstein,
    psi,
    quantile_cut_points,
)

logger = logging.getLogger(__name__)


def _shares(labels: list[str], counts: np.ndarray) -> dict[str, float]:
    total = counts.sum()
    return {label: float(count / total) for label, count in zip(labels, counts, strict=True)}


def _bin_labels(cut_points: np.ndarray) -> list[str]:
    bounds = ["-inf", *(f"{edge:.6g}" for edge in cut_points), "inf"]
    labels = [f"({low}, {high}]" for low, high in zip(bounds[:-1], bounds[1:], strict=True)]
    labels[-1] = labels[-1][:-1] + ")"
    return labels


def _categorical_target(column: str, reference: pd.Series, current: pd.Series) -> TargetDrift:
    reference_counts = category_counts(reference)
    current_counts = category_counts(current)
    labels = reference_counts.index.union(current_counts.index, sort=False)
    ref = reference_counts.reindex(labels, fill_value=0).to_numpy(dtype=np.int64)
    cur = current_counts.reindex(labels, fill_value=0).to_numpy(dtype=np.int64)
    statistic, p_value, _ = chi2_homogeneity(ref, cur)
    return TargetDrift(
        column=column,
        kind="categorical",
        method="chi2",
        statistic=statistic,
        p_value=p_value,
        kl_divergence=kl_divergence(ref, cur),
        drifted=False,
        reference_distribution=_shares([str(label) for label in labels], ref),
        current_distribution=_shares([str(label) for label in labels], cur),
        psi=psi(ref, cur),
    )


def _numeric_target(column: str, reference: pd.Series, current: pd.Series) -> TargetDrift:
    ref = numeric_values(reference, "reference")
    cur = numeric_values(current, "current")
    ref = np.sort(ref[np.isfinite(ref)])
    cur = np.sort(cur[np.isfinite(cur)])
    if ref.size == 0 or cur.size == 0:
        raise DriftInputError(f"target column {column!r} has no finite value in one of the windows")

    statistic, p_value, _ = ks_and_wasserstein(ref, cur)
    cut_points = quantile_cut_points(ref)
    ref_counts = bin_counts(ref, cut_points)
    cur_counts = bin_counts(cur, cut_points)
    labels = _bin_labels(cut_points)
    return TargetDrift(
        column=column,
        kind="numeric",
        method="ks",
        statistic=statistic,
        p_value=p_value,
        kl_divergence=kl_divergence(ref_counts, cur_counts),
        drifted=False,
        reference_distribution=_shares(labels, ref_counts),
        current_distribution=_shares(labels, cur_counts),
        psi=psi(ref_counts, cur_counts),
    )


def _evidently_opinion(
    reference: pd.Series, current: pd.Series, kind: FeatureKind
) -> dict[str, object] | None:
    if kind == "categorical":
        reference, current = category_labels(reference), category_labels(current)
    else:
        reference = pd.Series(numeric_values(reference, "reference"), name=reference.name)
        current = pd.Series(numeric_values(current, "current"), name=current.name)
    verdict = run_value_drift(reference, current, kind)
    return verdict.to_dict() if verdict else None


def compute_target_drift(
    reference: pd.Series,
    current: pd.Series,
    *,
    alpha: float,
    psi_threshold: float,
    kind: FeatureKind | None = None,
    use_evidently: bool = False,
) -> TargetDrift:
    """Compare the target (or prediction) column of two windows.

    `kind` overrides the type rule of `drift.columns` (a 0/1 target is categorical by that rule).
    Raises `DriftInputError` naming the column when a window has no value to compare, for example a
    current window whose labels have not arrived yet.
    """
    column = str(reference.name)
    if reference.notna().sum() == 0 or current.notna().sum() == 0:
        raise DriftInputError(f"target column {column!r} has no value in one of the windows")
    if kind is None:
        plan = plan_column(column, reference, current)
        if plan.kind is None:
            raise DriftInputError(f"target column {column!r} cannot be tested: {plan.skip_reason}")
        kind = plan.kind

    if kind == "categorical":
        result = _categorical_target(column, reference, current)
    else:
        result = _numeric_target(column, reference, current)
    result.p_value_threshold = alpha
    result.drifted = bool(
        result.p_value is not None
        and result.p_value <= alpha
        and result.psi is not None
        and result.psi >= psi_threshold
    )
    if use_evidently:
        result.evidently = _evidently_opinion(reference, current, kind)
    return result
