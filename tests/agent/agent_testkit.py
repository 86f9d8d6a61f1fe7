"""Builders shared by the agent tests: small windows, hand-built drift reports, in-memory actions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from agent.context import PromotionResult, RetrainOutcome
from agent.run_store import StepRecord
from data.base import DataSchema, DataWindows
from drift.report import DatasetDrift, DriftReport, FeatureDrift, TargetDrift
from evaluation.performance import PerformanceResult, unavailable
from evaluation.summary import EvalReport, MetricDifference, ModelScore
from training.config import MLflowRunRef, RetrainingConfig

DUMMY_KEY = "test-key-7f3a9c0d"
MODEL_NAME = "watchtower-test-model"


def make_windows(rows: int = 80, seed: int = 3) -> DataWindows:
    rng = np.random.default_rng(seed)

    def frame(start: str, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "ts": pd.date_range(start, periods=rows, freq="h"),
                "x1": rng.normal(shift, 1.0, rows),
                "x2": rng.normal(0.0, 1.0, rows),
                "color": rng.choice(["red", "blue"], rows),
                "y": rng.integers(0, 2, rows),
            }
        )

    schema = DataSchema(
        features=["x1", "x2", "color"], categorical=["color"], target="y", timestamp="ts"
    )
    return DataWindows(
        reference=frame("2024-01-01", 0.0), current=frame("2024-03-01", 1.5), schema=schema
    )


def make_feature(
    name: str, *, drifted: bool, psi: float, p_value: float, kind: str = "numeric"
) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        method="ks" if kind == "numeric" else "chi2",
        statistic=0.4 if drifted else 0.05,
        p_value=p_value,
        p_value_threshold=0.0167,
        effect_size=psi,
        effect_threshold=0.2,
        drifted=drifted,
        psi=psi,
        n_reference=80,
        n_current=80,
        evidently={
            "method": "K-S p_value",
            "score": p_value,
            "threshold": 0.05,
            "drifted": drifted,
        },
    )


def make_report(
    features: list[FeatureDrift], *, target_drifted: bool = False, threshold: float = 0.5
) -> DriftReport:
    n_drifted = sum(1 for item in features if item.drifted)
    share = n_drifted / len(features)
    return DriftReport(
        dataset=DatasetDrift(
            drifted=share >= threshold,
            drift_share=share,
            threshold=threshold,
            n_tested=len(features),
            n_drifted=n_drifted,
            alpha=0.05,
            correction="bonferroni",
        ),
        features=features,
        top_drifted=[item.name for item in features if item.drifted],
        target=TargetDrift(
            column="y",
            kind="categorical",
            method="chi2",
            statistic=9.1 if target_drifted else 0.3,
            p_value=0.0026 if target_drifted else 0.58,
            kl_divergence=0.08 if target_drifted else 0.001,
            drifted=target_drifted,
            reference_distribution={"0": 0.5, "1": 0.5},
            current_distribution={"0": 0.3, "1": 0.7} if target_drifted else {"0": 0.52, "1": 0.48},
            psi=0.25 if target_drifted else 0.002,
            p_value_threshold=0.05,
        ),
        n_reference=80,
        n_current=80,
    )


def drifted_report() -> DriftReport:
    """Two of three features drifted: share 0.667 against threshold 0.5, so the dataset drifted."""
    return make_report(
        [
            make_feature("x1", drifted=True, psi=1.2, p_value=1e-9),
            make_feature("color", drifted=True, psi=0.35, p_value=1e-4, kind="categorical"),
            make_feature("x2", drifted=False, psi=0.01, p_value=0.7),
        ]
    )


def quiet_report(first_name: str = "x1") -> DriftReport:
    """One of three features drifted: share 0.333 below threshold 0.5, and no target drift."""
    return make_report(
        [
            make_feature(first_name, drifted=True, psi=0.9, p_value=1e-6),
            make_feature("color", drifted=False, psi=0.02, p_value=0.4, kind="categorical"),
            make_feature("x2", drifted=False, psi=0.01, p_value=0.7),
        ]
    )


class InMemoryActions:
    """Actions that succeed or fail as configured and record every call."""

    def __init__(
        self,
        *,
        retrain_state: str = "success",
        retrain_raises: Exception | None = None,
        recommend: bool = True,
        realised: PerformanceResult | None = None,
        estimated: PerformanceResult | None = None,
    ) -> None:
        self.retrain_state = retrain_state
        self.retrain_raises = retrain_raises
        self.recommend = recommend
        # Without a configured result, both performance tools report that no champion exists.
        self.realised = realised or unavailable(
            "realised", "no_champion", "no champion in memory", MODEL_NAME
        )
        self.estimated = estimated or unavailable(
            "estimated", "no_champion", "no champion in memory", MODEL_NAME
        )
        self.retrain_configs: list[RetrainingConfig] = []
        self.evaluations: list[dict[str, Any]] = []
        self.promotions: list[tuple[str, str, str]] = []

    def trigger_retrain(self, config: RetrainingConfig) -> RetrainOutcome:
        self.retrain_configs.append(config)
        if self.retrain_raises is not None:
            raise self.retrain_raises
        success = self.retrain_state == "success"
        model = MLflowRunRef(
            run_id="mlrun-1", model_name=config.model_name, version="7", status="READY"
        )
        return RetrainOutcome(
            backend="local",
            external_run_id=f"local-{config.watchtower_run_id}",
            state="success" if success else "failed",
            model=model if success else None,
            failed_tasks=[] if success else ["train"],
            message="" if success else "task train exited with code 1",
            duration_seconds=1.5,
        )

    def evaluate(
        self,
        run_id: str,
        model_name: str,
        eval_frame: Any,
        schema: DataSchema,
        eval_window: dict[str, Any],
    ) -> EvalReport:
        self.evaluations.append(
            {
                "run_id": run_id,
                "model_name": model_name,
                "rows": len(eval_frame),
                "window": eval_window,
            }
        )
        difference = 0.03 if self.recommend else 0.001
        return EvalReport(
            run_id=run_id,
            model_name=model_name,
            primary_metric="roc_auc",
            challenger=ModelScore(
                model_uri=f"models:/{model_name}/7",
                version="7",
                metrics={"roc_auc": 0.78},
                basis="probabilities",
            ),
            champion=ModelScore(
                model_uri=f"models:/{model_name}/6",
                version="6",
                metrics={"roc_auc": 0.78 - difference},
                basis="probabilities",
            ),
            difference=MetricDifference(
                metric="roc_auc",
                difference=difference,
                ci_low=difference - 0.01,
                ci_high=difference + 0.01,
                confidence_level=0.95,
                n_bootstrap=200,
                higher_is_better=True,
            ),
            min_improvement=0.005,
            recommend_promotion=self.recommend,
            reason="improvement above the minimum"
            if self.recommend
            else "improvement below the minimum 0.005",
            n_eval_rows=len(eval_frame),
            eval_window=eval_window,
        )

    def check_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
        return self.realised

    def estimate_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
        return self.estimated

    def promote(self, model_name: str, version: str, run_id: str) -> PromotionResult:
        self.promotions.append((model_name, version, run_id))
        return PromotionResult(
            model_name=model_name, champion_version=version, previous_champion_version="6"
        )


def step_kinds(steps: list[StepRecord]) -> list[tuple[str, str | None]]:
    """Return (kind, tool name) per step, the shape the trace assertions compare."""
    return [(step.kind.value, step.tool_name) for step in steps]
