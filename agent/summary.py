"""The compact drift summary sent in the first user message.

Its size is bounded whatever the number of features: aggregates over all features, the `top_n` most
drifted features, a few warnings, and names cut to `MAX_NAME_CHARS`. The full report stays available
through the drift tools.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drift.report import DriftReport, FeatureDrift
from watchtower.jsonsafe import finite_or_none

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


def summarize_drift(report: DriftReport, top_n: int) -> dict[str, Any]:
    """Return the bounded summary of `report` as a JSON-safe dict.

    Parameters
    ----------
    report : DriftReport
        This run's drift report.
    top_n : int
        Number of features listed individually; drifted features come first.
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
    return finite_or_none(summary)  # type: ignore[no-any-return]
