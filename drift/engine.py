"""The drift engine: per-feature statistics, corrected verdicts and the dataset-level decision.

A feature drifts when its value test is significant after multiple-testing correction AND its PSI
reaches `DriftConfig.psi_threshold`. The p-value alone is not enough, because with hundreds of thousands
of rows a KS or chi-squared test calls a shift of a fraction of a percent significant. PSI is the
effect size that measures whether the shift is large enough to matter. A feature also drifts when its
share of missing values changes significantly (its own corrected family of tests) by at least
`DriftConfig.min_missing_share_change`. The dataset drifts when the share of drifted features among
the tested ones reaches `DriftConfig.feature_threshold` (DRIFT_FEATURE_THRESHOLD). Skipped columns
are left out of that share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.base import DataWindows
from drift.columns import (
    ColumnPlan,
    DriftInputError,
    category_labels,
    check_columns_exist,
    check_duplicate_columns,
    check_not_empty,
    check_overrides,
    numeric_values,
    plan_column,
)
from drift.correction import CORRECTIONS, corrected_threshold
from drift.feature_drift import EvidentlyDriftResult, run_data_drift_preset
from drift.report import (
    DatasetDrift,
    DriftReport,
    FeatureDrift,
    FeatureKind,
    SkippedColumn,
    TargetDrift,
)
from drift.statistical import FeatureStatistics, categorical_statistics, numeric_statistics
from drift.target_drift import compute_target_drift
from watchtower.settings import Correction, Settings, get_settings

logger = logging.getLogger(__name__)


@dataclass
class DriftConfig:
    """Thresholds of the drift verdicts (see the module docstring for how they combine)."""

    alpha: float = 0.05
    correction: Correction = "benjamini_hochberg"
    psi_threshold: float = 0.2
    feature_threshold: float = 0.2
    top_n: int = 10
    use_evidently: bool = True
    # Smallest absolute change of the missing share (0 to 1) that counts as missing-value drift.
    min_missing_share_change: float = 0.1

    def __post_init__(self) -> None:
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"unknown correction {self.correction!r}; choose one of {list(CORRECTIONS)}"
            )
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if not 0.0 < self.feature_threshold <= 1.0:
            raise ValueError(f"feature_threshold must be in (0, 1], got {self.feature_threshold}")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> DriftConfig:
        """Build the configuration from DRIFT_* settings; `use_evidently` stays on."""
        settings = settings or get_settings()
        return cls(
            alpha=settings.drift_alpha,
            correction=settings.drift_correction,
            psi_threshold=settings.drift_psi_threshold,
            feature_threshold=settings.drift_feature_threshold,
            top_n=settings.drift_top_features,
            min_missing_share_change=settings.drift_missing_share_change,
        )


@dataclass
class _Columns:
    """The columns of one detection run and the caller's choices about them."""

    features: list[str]
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    target: str | None = None
    prediction: str | None = None


def _score(plan: ColumnPlan, reference: pd.Series, current: pd.Series) -> FeatureStatistics:
    if plan.kind == "categorical":
        return categorical_statistics(plan.name, reference, current)
    ref = numeric_values(reference, "reference")
    cur = numeric_values(current, "current")
    return numeric_statistics(plan.name, ref, cur)


def _verdict(
    stats: FeatureStatistics, config: DriftConfig, value_threshold: float, missing_threshold: float
) -> FeatureDrift:
    value_drifted = (
        stats.p_value is not None
        and stats.psi is not None
        and stats.p_value <= value_threshold
        and stats.psi >= config.psi_threshold
    )
    share_change = abs(stats.missing_share_current - stats.missing_share_reference)
    missing_drifted = (
        stats.missing_p_value <= missing_threshold
        and share_change >= config.min_missing_share_change
    )
    return FeatureDrift(
        name=stats.name,
        kind=stats.kind,
        method=stats.method,
        statistic=stats.statistic,
        p_value=stats.p_value,
        p_value_threshold=value_threshold,
        effect_size=stats.psi,
        effect_threshold=config.psi_threshold,
        drifted=bool(value_drifted or missing_drifted),
        psi=stats.psi,
        wasserstein=stats.wasserstein,
        jensen_shannon=stats.jensen_shannon,
        missing_share_reference=stats.missing_share_reference,
        missing_share_current=stats.missing_share_current,
        missing_p_value=stats.missing_p_value,
        missing_drifted=bool(missing_drifted),
        missing_p_value_threshold=missing_threshold,
        non_finite_reference=stats.non_finite_reference,
        non_finite_current=stats.non_finite_current,
        n_reference=stats.n_reference,
        n_current=stats.n_current,
        new_categories=stats.new_categories,
    )


def _judge(statistics: list[FeatureStatistics], config: DriftConfig) -> list[FeatureDrift]:
    value_p_values = [item.p_value for item in statistics if item.p_value is not None]
    missing_p_values = [item.missing_p_value for item in statistics]
    value_threshold = corrected_threshold(value_p_values, config.alpha, config.correction)
    missing_threshold = corrected_threshold(missing_p_values, config.alpha, config.correction)
    return [_verdict(item, config, value_threshold, missing_threshold) for item in statistics]


def _dataset_verdict(features: list[FeatureDrift], config: DriftConfig) -> DatasetDrift:
    n_tested = len(features)
    n_drifted = sum(1 for item in features if item.drifted)
    share = n_drifted / n_tested if n_tested else 0.0
    return DatasetDrift(
        drifted=bool(n_tested and share >= config.feature_threshold),
        drift_share=share,
        threshold=config.feature_threshold,
        n_tested=n_tested,
        n_drifted=n_drifted,
        alpha=config.alpha,
        correction=config.correction,
    )


def _top_drifted(features: list[FeatureDrift], top_n: int) -> list[str]:
    drifted = [item for item in features if item.drifted]
    drifted.sort(key=lambda item: item.effect_size or 0.0, reverse=True)
    return [item.name for item in drifted[:top_n]]


def _evidently_frame(
    frame: pd.DataFrame, kinds: dict[str, FeatureKind], window: str
) -> pd.DataFrame:
    """Convert the tested columns to the engine's kinds: floats (inf as NaN) or string labels."""
    columns: dict[str, object] = {}
    for name, kind in kinds.items():
        if kind == "categorical":
            columns[name] = category_labels(frame[name])
        else:
            values = numeric_values(frame[name], window)  # type: ignore[arg-type]
            columns[name] = np.where(np.isinf(values), np.nan, values)
    return pd.DataFrame(columns, index=frame.index)


def _run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[FeatureDrift],
    config: DriftConfig,
) -> EvidentlyDriftResult:
    kinds = {item.name: item.kind for item in features if item.n_reference and item.n_current}
    return run_data_drift_preset(
        _evidently_frame(reference, kinds, "reference"),
        _evidently_frame(current, kinds, "current"),
        kinds,
        drift_share=config.feature_threshold,
    )


def _attach_evidently(
    report: DriftReport, reference: pd.DataFrame, current: pd.DataFrame, config: DriftConfig
) -> None:
    try:
        result = _run_evidently(reference, current, report.features, config)
    # Evidently is an optional second opinion whose failures vary by version and input. The
    # engine's own verdict does not depend on it, so any failure becomes a warning in the report.
    except Exception as exc:  # noqa: BLE001
        logger.warning("evidently data drift preset failed: %s", exc, exc_info=True)
        report.warnings.append(f"Evidently's data drift preset failed and was left out: {exc}")
        return
    for item in report.features:
        verdict = result.columns.get(item.name)
        item.evidently = verdict.to_dict() if verdict else None
    report.evidently = result.summary()


def _target_drift(
    role: str,
    column: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig,
    warnings: list[str],
) -> TargetDrift | None:
    try:
        return compute_target_drift(
            reference[column],
            current[column],
            alpha=config.alpha,
            psi_threshold=config.psi_threshold,
            use_evidently=config.use_evidently,
        )
    except DriftInputError as exc:
        logger.warning("%s drift not computed: %s", role, exc)
        warnings.append(f"{role} drift not computed: {exc}")
        return None


def _validate(reference: pd.DataFrame, current: pd.DataFrame, columns: _Columns) -> None:
    check_duplicate_columns(reference, current)
    check_not_empty(reference, current)
    check_overrides(columns.categorical, columns.numeric)
    check_columns_exist(columns.categorical, reference, current, "categorical")
    check_columns_exist(columns.numeric, reference, current, "numeric")
    for role, column in (("target", columns.target), ("prediction", columns.prediction)):
        if column is not None:
            check_columns_exist([column], reference, current, role)


def _plan_and_score(
    reference: pd.DataFrame, current: pd.DataFrame, columns: _Columns, warnings: list[str]
) -> tuple[list[FeatureStatistics], list[SkippedColumn]]:
    plans: list[ColumnPlan] = []
    skipped: list[SkippedColumn] = []
    for name in columns.features:
        plan = plan_column(
            name, reference[name], current[name], columns.categorical, columns.numeric
        )
        if plan.kind is None:
            reason = plan.skip_reason or "not tested"
            skipped.append(SkippedColumn(name, reason))
            warnings.append(f"column {name!r} skipped: {reason}")
            logger.warning("column %r skipped: %s", name, reason)
            continue
        plans.append(plan)
    statistics = [_score(plan, reference[plan.name], current[plan.name]) for plan in plans]
    return statistics, skipped


def _detect(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: _Columns,
    config: DriftConfig,
    warnings: list[str],
) -> DriftReport:
    started = time.perf_counter()
    _validate(reference, current, columns)
    statistics, skipped = _plan_and_score(reference, current, columns, warnings)
    features = _judge(statistics, config)
    if not features:
        warnings.append("no feature could be tested, so the dataset is reported as not drifted")

    report = DriftReport(
        dataset=_dataset_verdict(features, config),
        features=features,
        skipped=skipped,
        top_drifted=_top_drifted(features, config.top_n),
        n_reference=len(reference),
        n_current=len(current),
        warnings=warnings,
    )
    if config.use_evidently and features:
        _attach_evidently(report, reference, current, config)
    if columns.target is not None:
        report.target = _target_drift(
            "target", columns.target, reference, current, config, warnings
        )
    if columns.prediction is not None:
        report.prediction = _target_drift(
            "prediction", columns.prediction, reference, current, config, warnings
        )

    logger.info(
        "drift detection: %s features tested, %s drifted (share %.3f), %s skipped in %.2f s",
        report.dataset.n_tested,
        report.dataset.n_drifted,
        report.dataset.drift_share,
        len(skipped),
        time.perf_counter() - started,
    )
    return report


def detect_drift_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    target: str | None = None,
    prediction: str | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Detect drift between two frames, testing every column they share except target and prediction.

    `categorical` and `numeric` override the type rule of `drift.columns` for the listed columns.
    A column present in only one window is skipped with a reason. Raises `DriftInputError` for
    duplicate column names, an empty window or a listed column that is missing.
    """
    config = config or DriftConfig()
    excluded = {target, prediction}
    warnings: list[str] = []
    features: list[str] = []
    for name in reference.columns:
        if name in excluded:
            continue
        if name in current.columns:
            features.append(name)
    columns = _Columns(features, list(categorical or []), list(numeric or []), target, prediction)

    report = _detect(reference, current, columns, config, warnings)
    for window, frame, other in (
        ("reference", reference, current),
        ("current", current, reference),
    ):
        for name in frame.columns:
            if name not in other.columns and name not in excluded:
                reason = f"only in the {window} window"
                report.skipped.append(SkippedColumn(str(name), reason))
                report.warnings.append(f"column {str(name)!r} skipped: {reason}")
    return report


def detect_drift(windows: DataWindows, config: DriftConfig | None = None) -> DriftReport:
    """Detect drift between the reference and current windows on the schema's feature columns.

    Raises `DriftInputError` for duplicate column names, an empty window or a schema column that is
    missing from a window.
    """
    schema = windows.schema
    check_duplicate_columns(windows.reference, windows.current)
    check_columns_exist(schema.features, windows.reference, windows.current, "feature")
    columns = _Columns(
        features=[
            name for name in schema.features if name not in (schema.target, schema.prediction)
        ],
        categorical=list(schema.categorical),
        target=schema.target,
        prediction=schema.prediction,
    )
    return _detect(windows.reference, windows.current, columns, config or DriftConfig(), [])
