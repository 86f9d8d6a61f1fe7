"""Run one decision maker on one scenario through the real pipeline, and read what it did.

Each run gets its own temporary MLflow store and run store. The champion is trained by the real
training job (`--bootstrap-champion` mode, seed 0) on the reference window and gets the `champion`
alias. Then `agent.pipeline.execute_run` loads the windows, detects drift and runs the decision loop
with the real tools, `RegistryActions` and the local retrain backend, exactly as the service does.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from scenarios import Scenario

from agent.pipeline import execute_run
from agent.run_store import RunStore, StepRecord
from data.spec import DataSpec
from training.registry import ModelRegistry
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

MODEL_NAME = "bench-champion"


@dataclass
class DecisionRun:
    """The actions of one decision maker on one scenario, with the evidence it saw."""

    decision: str
    retrained: bool
    promoted: bool
    evidence: str
    challenger_auc: float | None = None
    champion_auc: float | None = None
    performance: dict[str, Any] = field(default_factory=dict)
    drift_share: float | None = None
    dataset_drifted: bool | None = None
    target_drifted: bool | None = None
    error: str | None = None


def bench_settings(scenario: Scenario, folder: Path, backend: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        agent_backend=backend,  # type: ignore[arg-type]
        database_url=f"sqlite:///{folder / 'runs.db'}",
        mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        mlflow_model_name=MODEL_NAME,
        mlflow_experiment_name="bench-decisions",
        retrain_backend="local",
        data_source="files",
        data_reference_path=str(scenario.reference_path),
        data_current_path=str(scenario.current_path),
        data_target_column=scenario.target,
        data_timestamp_column=scenario.timestamp,
        data_categorical_columns=scenario.categorical,
        model_version_timeout_seconds=120.0,
        retrain_timeout_seconds=900.0,
    )


def register_champion(job: ModuleType, settings: Settings) -> str:
    """Train the champion on the reference window with the real job and give it the alias."""
    spec = DataSpec.from_settings(settings)
    schema_options = spec.options
    conf = {
        "watchtower_run_id": "bench-champion",
        "dag_id": settings.retrain_dag_id,
        "model_name": settings.mlflow_model_name,
        "experiment_name": settings.mlflow_experiment_name,
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "task_type": "classification",
        "target": schema_options["target"],
        "features": _features(spec),
        "categorical": schema_options["categorical"],
        "timestamp": schema_options["timestamp"],
        "data": spec.to_json_dict(),
        "holdout_fraction": settings.eval_holdout_fraction,
        "seed": 0,
    }
    result = job.run_job(conf, bootstrap=True)
    registry = ModelRegistry(settings.mlflow_tracking_uri)
    registry.promote(settings.mlflow_model_name, result["version"], "bench-champion")
    return str(result["version"])


def _features(spec: DataSpec) -> list[str]:
    from data.spec import create_loader

    return list(create_loader(spec).load().schema.features)


def _tool_output(steps: list[StepRecord], name: str) -> dict[str, Any] | None:
    for step in steps:
        if step.kind.value == "tool_result" and step.tool_name == name and step.output:
            return step.output.get("content")
    return None


def _evidence(steps: list[StepRecord]) -> str:
    for step in steps:
        text = step.text or ""
        if step.kind.value == "llm_reasoning" and text.startswith("Evidence that decided: "):
            return text.removeprefix("Evidence that decided: ").split(".", 1)[0]
    return "n/a"


def _read_run(store: RunStore, run_id: str) -> DecisionRun:
    record = store.get_run(run_id)
    assert record is not None
    steps = store.list_steps(run_id)
    retrain = _tool_output(steps, "trigger_retrain") or {}
    report = store.get_eval_report(run_id) or {}
    drift = store.get_drift_snapshot(run_id) or {}
    dataset = drift.get("dataset") or {}
    target = drift.get("target") or {}
    decision = str(getattr(record.decision, "value", record.decision))
    return DecisionRun(
        decision=decision,
        retrained=retrain.get("state") == "success",
        promoted=decision == "promoted",
        evidence=_evidence(steps),
        challenger_auc=((report.get("challenger") or {}).get("metrics") or {}).get("roc_auc"),
        champion_auc=((report.get("champion") or {}).get("metrics") or {}).get("roc_auc"),
        performance={
            "realised": _tool_output(steps, "check_model_performance"),
            "estimated": _tool_output(steps, "estimate_model_performance"),
        },
        drift_share=dataset.get("drift_share"),
        dataset_drifted=dataset.get("drifted"),
        target_drifted=target.get("drifted"),
        error=record.error,
    )


def run_decision_maker(job: ModuleType, scenario: Scenario, backend: str) -> DecisionRun:
    """Run `backend` ("rules" or "claude") on `scenario` in a fresh pair of stores."""
    with tempfile.TemporaryDirectory(prefix="bench-decisions-") as name:
        folder = Path(name)
        settings = bench_settings(scenario, folder, backend)
        register_champion(job, settings)
        store = RunStore(settings.database_url)
        try:
            run = store.create_run(
                trigger_source="bench", dry_run=False, model_name=MODEL_NAME, request={}
            )
            execute_run(run.id, store, settings, {"dry_run": False})
            return _read_run(store, run.id)
        finally:
            store.close()
