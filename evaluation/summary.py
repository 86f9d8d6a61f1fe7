"""`EvalReport`: champion against challenger on the same held-out rows, with the recommendation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from watchtower.jsonsafe import finite_or_none

ScoreBasis = Literal["probabilities", "labels", "values"]


@dataclass
class ModelScore:
    """One model's metrics on the evaluation window. A metric that is undefined there is `None`."""

    model_uri: str
    version: str | None
    metrics: dict[str, float | None]
    basis: ScoreBasis


@dataclass
class MetricDifference:
    """Challenger minus champion on the primary metric, oriented so that positive means better."""

    metric: str
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence_level: float
    n_bootstrap: int
    higher_is_better: bool
    # Resamples left out of the interval because the metric was undefined on them for either model.
    n_skipped: int = 0


@dataclass
class EvalReport:
    run_id: str
    model_name: str
    primary_metric: str
    challenger: ModelScore
    champion: ModelScore | None
    difference: MetricDifference | None
    min_improvement: float
    recommend_promotion: bool
    reason: str
    n_eval_rows: int
    eval_window: dict[str, Any] = field(default_factory=dict)
    training_window: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return finite_or_none(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        champion = data.get("champion")
        difference = data.get("difference")
        fields = {
            k: v for k, v in data.items() if k not in {"champion", "challenger", "difference"}
        }
        return cls(
            challenger=ModelScore(**data["challenger"]),
            champion=ModelScore(**champion) if champion else None,
            difference=MetricDifference(**difference) if difference else None,
            **fields,
        )
