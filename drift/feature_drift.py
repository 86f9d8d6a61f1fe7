"""Evidently's data drift preset on the same windows, normalised to one verdict per column.

Evidently (0.7 API) picks its own test per column (K-S, chi-squared, Z-test, Wasserstein or
Jensen-Shannon, by type and size) and reports a score with its threshold. A p-value method drifts when
the score is below the threshold and a distance method when it is at or above it. The report's tests
carry that verdict. The result sits beside the engine's own statistics as a second opinion; the engine's
verdict does not depend on it.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from drift.report import FeatureKind

logger = logging.getLogger(__name__)

# Evidently sends usage telemetry unless this is set.
os.environ.setdefault("DO_NOT_TRACK", "1")


@dataclass
class EvidentlyColumnDrift:
    """Evidently's verdict on one column."""

    method: str
    score: float | None
    threshold: float | None
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


@dataclass
class EvidentlyDriftResult:
    """Evidently's data drift preset: per-column verdicts and its dataset-level summary."""

    columns: dict[str, EvidentlyColumnDrift] = field(default_factory=dict)
    drift_share: float | None = None
    drifted_count: int | None = None
    share_threshold: float | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        dataset_drifted = None
        if self.drift_share is not None and self.share_threshold is not None:
            dataset_drifted = self.drift_share >= self.share_threshold
        return {
            "drift_share": self.drift_share,
            "drifted_count": self.drifted_count,
            "share_threshold": self.share_threshold,
            "dataset_drifted": dataset_drifted,
            "n_columns": len(self.columns),
            "seconds": round(self.seconds, 3),
        }


def _verdict_from_method(method: str, score: float | None, threshold: float | None) -> bool:
    if score is None or threshold is None:
        return False
    if "p_value" in method:
        return score < threshold
    return score >= threshold


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _parse_snapshot(snapshot: dict[str, Any]) -> EvidentlyDriftResult:
    """Read per-column verdicts and the dataset summary out of `Snapshot.dict()`."""
    failed = {
        test["metric_config"]["metric_id"]: test["status"] == "FAIL"
        for test in snapshot.get("tests", [])
    }
    result = EvidentlyDriftResult()
    for metric in snapshot.get("metrics", []):
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("ValueDrift"):
            method = str(config.get("method", ""))
            score = _as_float(metric.get("value"))
            threshold = _as_float(config.get("threshold"))
            drifted = failed.get(metric["id"], _verdict_from_method(method, score, threshold))
            result.columns[str(config["column"])] = EvidentlyColumnDrift(
                method, score, threshold, drifted
            )
        elif kind.endswith("DriftedColumnsCount"):
            value = metric.get("value", {})
            result.drift_share = _as_float(value.get("share"))
            count = _as_float(value.get("count"))
            result.drifted_count = int(count) if count is not None else None
            result.share_threshold = _as_float(config.get("drift_share"))
    return result


def _dataset(frame: pd.DataFrame, kinds: dict[str, FeatureKind]) -> Any:
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(
        numerical_columns=[name for name, kind in kinds.items() if kind == "numeric"],
        categorical_columns=[name for name, kind in kinds.items() if kind == "categorical"],
    )
    return Dataset.from_pandas(frame, data_definition=definition)


def run_data_drift_preset(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, FeatureKind],
    drift_share: float,
) -> EvidentlyDriftResult:
    """Run Evidently's `DataDriftPreset` on the columns in `kinds` and normalise its output.

    Parameters
    ----------
    reference, current
        Frames with the columns of `kinds`: numeric columns as floats (missing and infinite values as
        NaN), categorical ones as string labels, so that Evidently tests the engine's column kinds.
    kinds
        Column name to kind, as the engine's type rule decided.
    drift_share
        Share of drifted columns at which Evidently flags the dataset (its ``drift_share``).
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    columns = list(kinds)
    report = Report([DataDriftPreset(columns=columns, drift_share=drift_share)], include_tests=True)
    # Evidently's chi-squared test divides by zero expected counts when the current window has a
    # category the reference lacks. scipy then warns on stderr, which adds nothing: the engine
    # reports the new category itself.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = report.run(
            current_data=_dataset(current[columns], kinds),
            reference_data=_dataset(reference[columns], kinds),
        )
    result = _parse_snapshot(snapshot.dict())
    result.seconds = time.perf_counter() - started
    logger.info("evidently data drift preset: %s columns in %.2f s", len(columns), result.seconds)
    return result


def run_value_drift(
    reference: pd.Series, current: pd.Series, kind: FeatureKind
) -> EvidentlyColumnDrift | None:
    """Run Evidently's `ValueDrift` on one column (the target or the prediction)."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    name = str(reference.name)
    kinds = {name: kind}
    snapshot = Report([ValueDrift(column=name)], include_tests=True).run(
        current_data=_dataset(current.to_frame(name), kinds),
        reference_data=_dataset(reference.to_frame(name), kinds),
    )
    return _parse_snapshot(snapshot.dict()).columns.get(name)
