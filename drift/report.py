"""`DriftReport`: the JSON-serialisable result of one drift detection.

Every verdict carries its evidence (statistic, p-value, threshold, method). `to_dict` never emits NaN or
infinity: non-finite floats become `None`, so the JSON parses with a strict parser.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from watchtower.jsonsafe import finite_or_none

SCHEMA_VERSION = 1

FeatureKind = Literal["numeric", "categorical"]


@dataclass
class FeatureDrift:
    """Drift evidence for one feature.

    `method` names the test behind `p_value` (`ks` or `chi2`); `effect_size` is the PSI, the effect
    measure that decides together with the corrected p-value whether the feature `drifted`.
    """

    name: str
    kind: FeatureKind
    method: str
    statistic: float | None
    p_value: float | None
    p_value_threshold: float | None
    effect_size: float | None
    effect_threshold: float | None
    drifted: bool
    psi: float | None = None
    wasserstein: float | None = None
    jensen_shannon: float | None = None
    missing_share_reference: float = 0.0
    missing_share_current: float = 0.0
    missing_p_value: float | None = None
    missing_drifted: bool = False
    # Corrected threshold of the missing-share tests, a family of their own.
    missing_p_value_threshold: float | None = None
    non_finite_reference: int = 0
    non_finite_current: int = 0
    n_reference: int = 0
    n_current: int = 0
    new_categories: list[str] = field(default_factory=list)
    # Evidently's verdict for the same column, when the preset ran: method, score, threshold, drifted.
    evidently: dict[str, Any] | None = None


@dataclass
class SkippedColumn:
    name: str
    reason: str


@dataclass
class DatasetDrift:
    """The dataset-level verdict: drift when the share of drifted features reaches the threshold."""

    drifted: bool
    drift_share: float
    threshold: float
    n_tested: int
    n_drifted: int
    alpha: float
    correction: str


@dataclass
class TargetDrift:
    """Drift of the target (or of the prediction column) between the two windows."""

    column: str
    kind: FeatureKind
    method: str
    statistic: float | None
    p_value: float | None
    kl_divergence: float | None
    drifted: bool
    reference_distribution: dict[str, float] = field(default_factory=dict)
    current_distribution: dict[str, float] = field(default_factory=dict)
    evidently: dict[str, Any] | None = None
    # PSI between the two distributions, and the p-value threshold (alpha, a single test).
    psi: float | None = None
    p_value_threshold: float | None = None


@dataclass
class DriftReport:
    dataset: DatasetDrift
    features: list[FeatureDrift]
    skipped: list[SkippedColumn] = field(default_factory=list)
    top_drifted: list[str] = field(default_factory=list)
    target: TargetDrift | None = None
    prediction: TargetDrift | None = None
    n_reference: int = 0
    n_current: int = 0
    warnings: list[str] = field(default_factory=list)
    # Summary of Evidently's data drift preset (drift share and count), when it ran.
    evidently: dict[str, Any] | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    schema_version: int = SCHEMA_VERSION

    @property
    def new_categories(self) -> dict[str, list[str]]:
        return {f.name: f.new_categories for f in self.features if f.new_categories}

    def feature(self, name: str) -> FeatureDrift:
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(f"feature {name!r} is not in the drift report")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["new_categories"] = self.new_categories
        return finite_or_none(data)  # type: ignore[no-any-return]

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        target = data.get("target")
        prediction = data.get("prediction")
        return cls(
            dataset=DatasetDrift(**data["dataset"]),
            features=[FeatureDrift(**item) for item in data["features"]],
            skipped=[SkippedColumn(**item) for item in data.get("skipped", [])],
            top_drifted=list(data.get("top_drifted", [])),
            target=TargetDrift(**target) if target else None,
            prediction=TargetDrift(**prediction) if prediction else None,
            n_reference=data.get("n_reference", 0),
            n_current=data.get("n_current", 0),
            warnings=list(data.get("warnings", [])),
            evidently=data.get("evidently"),
            created_at=data.get("created_at", ""),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
        )
