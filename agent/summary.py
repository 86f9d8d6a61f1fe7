"""The compact drift summary sent in the first user message.

Its size is bounded whatever the number of features: aggregates over all features, the `top_n` most
drifted features, a few warnings, and names cut to `MAX_NAME_CHARS`. The full report stays available
through the drift tools. An `evidence` part lists which performance evidence the run can have: how many
current rows are labelled, and whether an estimate without labels is possible.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from data.base import DataWindows
from drift.report import DriftReport, FeatureDrift
from watchtower.jsonsafe import finite_or_none
from watchtower.settings import Settings

MAX_NAME_CHARS = 64
MAX_WARNINGS = 5
MAX_WARNING_CHARS = 200
MAX_NEW_CATEGORIES = 5
MAX_TARGET_CLASSES = 10


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _top_features(report: DriftReport, top_n: int) -> list[FeatureDrift]:
    """Return the drifted features first, each group ordered by effect size, largest first."""
    ranked = sorted(
        report.features,
        key=lambda item: (not item.drifted, not item.missing_drifted, -(item.effect_size or 0.0)),
    )
    return ranked[:top_n]


def _compact_feature(feature: FeatureDrift) -> dict[str, Any]:
    new_categories = [_cut(str(value), MAX_NAME_CHARS) for value in feature.new_categories]
    return {
        "name": _cut(feature.name, MAX_NAME_CHARS),
        "kind": feature.kind,
        "method": feature.method,
        "statistic": feature.statistic,
        "p_value": feature.p_value,
        "p_value_threshold": feature.p_value_threshold,
        "psi": feature.effect_size,
        "psi_threshold": feature.effect_threshold,
        "drifted": feature.drifted,
        "missing_share": [feature.missing_share_reference, feature.missing_share_current],
        "missing_drifted": feature.missing_drifted,
        "new_categories": new_categories[:MAX_NEW_CATEGORIES],
        "n_new_categories": len(feature.new_categories),
    }


def _aggregates(report: DriftReport) -> dict[str, Any]:
    effects = [item.effect_size for item in report.features if item.effect_size is not None]
    return {
        "n_features": len(report.features),
        "n_numeric": sum(1 for item in report.features if item.kind == "numeric"),
        "n_categorical": sum(1 for item in report.features if item.kind == "categorical"),
        "n_drifted": sum(1 for item in report.features if item.drifted),
        "n_missing_drifted": sum(1 for item in report.features if item.missing_drifted),
        "n_with_new_categories": sum(1 for item in report.features if item.new_categories),
        "n_skipped": len(report.skipped),
        "max_psi": max(effects) if effects else None,
    }


def _compact_target(report: DriftReport) -> dict[str, Any] | None:
    if report.target is None:
        return None
    target = asdict(report.target)
    target.pop("evidently", None)
    target["column"] = _cut(str(target["column"]), MAX_NAME_CHARS)
    for key in ("reference_distribution", "current_distribution"):
        shares = sorted(target[key].items(), key=lambda item: -(item[1] or 0.0))[
            :MAX_TARGET_CLASSES
        ]
        target[key] = {_cut(str(label), MAX_NAME_CHARS): share for label, share in shares}
    return target


def _scalar_items(data: dict[str, Any] | None) -> dict[str, Any] | None:
    # Nested values could grow with the number of features, so only scalars are kept.
    if data is None:
        return None
    return {
        key: value for key, value in data.items() if isinstance(value, int | float | str | bool)
    }


def _labelled_rows(windows: DataWindows) -> int:
    target = windows.schema.target
    if not target or target not in windows.current.columns:
        return 0
    return int(windows.current[target].notna().sum())


def summarize_evidence(windows: DataWindows, settings: Settings) -> dict[str, Any]:
    """Describe which performance evidence this run can have, before any tool runs.

    Whether a champion exists and returns probabilities is known only to the performance tools, so
    the estimate is described as possible for a classifier and the tool reports otherwise.
    """
    labelled = _labelled_rows(windows)
    if labelled:
        realised = f"possible on {labelled} labelled current rows: call check_model_performance"
    else:
        realised = "not possible: no current row has a label"
    if settings.model_task_type == "classification":
        estimated = (
            "possible when the champion returns probabilities: call estimate_model_performance"
        )
    else:
        estimated = "not possible: the estimate covers classifiers only"
    return {
        "current_rows": len(windows.current),
        "labelled_current_rows": labelled,
        "realised_performance": realised,
        "estimated_performance": estimated,
        "primary_metric": settings.primary_metric,
        "performance_drop_margin": settings.performance_drop_margin,
    }


def summarize_drift(
    report: DriftReport, top_n: int, evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the bounded summary of `report` as a JSON-safe dict.

    Parameters
    ----------
    report : DriftReport
        This run's drift report.
    top_n : int
        Number of features listed individually; drifted features come first.
    evidence : dict, optional
        The performance evidence available, from `summarize_evidence`; added as `evidence`.
    """
    warnings = [_cut(text, MAX_WARNING_CHARS) for text in report.warnings[:MAX_WARNINGS]]
    summary = {
        "dataset": asdict(report.dataset),
        "aggregates": _aggregates(report),
        "top_features": [_compact_feature(item) for item in _top_features(report, top_n)],
        "target": _compact_target(report),
        "rows": {"reference": report.n_reference, "current": report.n_current},
        "warnings": warnings,
        "n_warnings": len(report.warnings),
        "evidently": _scalar_items(report.evidently),
    }
    if evidence is not None:
        summary["evidence"] = evidence
    return finite_or_none(summary)  # type: ignore[no-any-return]
