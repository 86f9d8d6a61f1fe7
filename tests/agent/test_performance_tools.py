"""The performance tools against a real MLflow store, in the rules loop, and under the guardrails.

The champion is trained and registered by the real training job (`airflow/include/train_job.py`,
run in this process) on seeded synthetic windows, in an MLflow SQLite store under `tmp_path`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from agent_testkit import (  # noqa: E402
    MODEL_NAME,
    InMemoryActions,
    drifted_report,
    quiet_report,
)
from mlflow import MlflowClient  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from agent.context import AgentContext  # noqa: E402
from agent.orchestrator import run_decision_loop  # noqa: E402
from agent.run_store import RunStore, StepRecord  # noqa: E402
from agent.summary import summarize_evidence  # noqa: E402
from agent.tools.base import RunProgress, ToolEnv  # noqa: E402
from agent.tools.registry import build_registry, run_tool_call  # noqa: E402
from data.base import DataWindows  # noqa: E402
from data.spec import DataSpec, load_windows  # noqa: E402
from drift.engine import DriftConfig, detect_drift  # noqa: E402
from evaluation.estimation import estimate_current_performance  # noqa: E402
from evaluation.metrics import ModelOutput  # noqa: E402
from evaluation.performance import (  # noqa: E402
    LabelledScores,
    PerformanceResult,
    check_realised_performance,
    unavailable,
)
from training.actions import VALIDATION_ARTIFACT, RegistryActions  # noqa: E402
from training.backends import TRAIN_JOB_PATH  # noqa: E402
from training.config import RetrainingConfig  # noqa: E402
from training.registry import ModelRegistry  # noqa: E402
from watchtower.settings import Settings  # noqa: E402

ROWS = 3000
FEATURES = ["age", "income", "tenure_months", "score", "support_calls", "plan", "region", "channel"]
CATEGORICAL = ["plan", "region", "channel"]


def load_train_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_job", TRAIN_JOB_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_spec(drift: str) -> DataSpec:
    return DataSpec(
        source="synthetic",
        options={"rows": ROWS, "seed": 5, "drift": drift, "task_type": "classification"},
    )


def champion_conf(uri: str, drift: str) -> dict[str, Any]:
    return {
        "watchtower_run_id": "champion-run",
        "dag_id": "ml_retrain_pipeline",
        "model_name": MODEL_NAME,
        "experiment_name": "watchtower-test",
        "mlflow_tracking_uri": uri,
        "task_type": "classification",
        "target": "target",
        "features": FEATURES,
        "categorical": CATEGORICAL,
        "timestamp": "event_time",
        "data": data_spec(drift).to_json_dict(),
        "holdout_fraction": 0.3,
        "seed": 0,
    }


@pytest.fixture(scope="module")
def train_job() -> ModuleType:
    return load_train_job()


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory: pytest.TempPathFactory, train_job: ModuleType) -> str:
    """An MLflow store whose champion the training job trained on the synthetic reference window."""
    folder = tmp_path_factory.mktemp("performance-mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    result = train_job.run_job(champion_conf(uri, "none"), bootstrap=True)
    ModelRegistry(uri).promote(MODEL_NAME, result["version"], "champion-run")
    return uri


def registry_actions(uri: str, **overrides: Any) -> RegistryActions:
    values: dict[str, Any] = {
        "mlflow_tracking_uri": uri,
        "mlflow_model_name": MODEL_NAME,
        "eval_bootstrap_samples": 300,
    }
    values.update(overrides)
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    return RegistryActions(settings, ModelRegistry(uri))


def validation_frame(uri: str) -> pd.DataFrame:
    registry = ModelRegistry(uri)
    champion = registry.get_champion(MODEL_NAME)
    assert champion is not None and champion.run_id is not None
    path = MlflowClient(uri).download_artifacts(champion.run_id, VALIDATION_ARTIFACT)
    return pd.read_parquet(path)


def champion_run(uri: str) -> Any:
    champion = ModelRegistry(uri).get_champion(MODEL_NAME)
    assert champion is not None and champion.run_id is not None
    return MlflowClient(uri).get_run(champion.run_id)


# The training job's validation rows


def test_job_logs_validation_artifact(champion_store: str) -> None:
    frame = validation_frame(champion_store)
    params = champion_run(champion_store).data.params
    assert list(frame.columns) == ["y_true", "prediction", "score"]
    assert len(frame) == int(params["validation_rows"])


def test_job_logs_validation_params(champion_store: str) -> None:
    params = champion_run(champion_store).data.params
    assert params["validation_fraction"] == "0.2"
    assert int(params["fit_rows"]) + int(params["validation_rows"]) == ROWS
    assert params["train_rows"] == str(ROWS)
    # Whole days are held out, so the share of rows is near the fraction but not exact.
    assert 0.1 < int(params["validation_rows"]) / ROWS < 0.3


def test_job_logs_validation_metrics(champion_store: str) -> None:
    metrics = champion_run(champion_store).data.metrics
    frame = validation_frame(champion_store)
    assert metrics["validation_roc_auc"] == pytest.approx(
        roc_auc_score(frame["y_true"], frame["score"])
    )
    # The fitted rows score higher than the held-out ones, which is why they are not the reference.
    assert metrics["train_roc_auc"] > metrics["validation_roc_auc"]


def test_validation_days_disjoint_from_fit_days(train_job: ModuleType) -> None:
    windows = load_windows(data_spec("none"))
    conf = SimpleNamespace(seed=0, timestamp="event_time")
    fit, validation = train_job.split_validation(windows.reference, conf)
    fit_days = set(fit["event_time"].dt.floor("D"))
    validation_days = set(validation["event_time"].dt.floor("D"))
    all_days = fit_days | validation_days
    assert len(fit) + len(validation) == ROWS
    assert fit_days.isdisjoint(validation_days)
    assert len(validation_days) == round(len(all_days) * 0.2)


def test_validation_without_timestamp_draws_rows(train_job: ModuleType) -> None:
    windows = load_windows(data_spec("none"))
    conf = SimpleNamespace(seed=0, timestamp=None)
    fit, validation = train_job.split_validation(windows.reference, conf)
    assert len(validation) == round(ROWS * 0.2)
    assert set(fit.index).isdisjoint(validation.index)


# RegistryActions on the real store


def test_check_uses_validation_reference(champion_store: str) -> None:
    windows = load_windows(data_spec("none"))
    result = registry_actions(champion_store).check_performance(MODEL_NAME, windows)
    frame = validation_frame(champion_store)
    assert result.status == "available"
    assert result.reference_source == "validation"
    assert result.reference_in_sample is False
    assert result.reference is not None
    assert result.reference.n_rows == len(frame)
    assert result.reference.value == pytest.approx(roc_auc_score(frame["y_true"], frame["score"]))


def test_check_no_drift_not_significant(champion_store: str) -> None:
    windows = load_windows(data_spec("none"))
    result = registry_actions(champion_store).check_performance(MODEL_NAME, windows)
    assert result.n_labelled_rows == ROWS
    assert result.significant_drop is False


def test_label_shift_seen_only_by_realised_check(champion_store: str) -> None:
    windows = load_windows(data_spec("label_shift"))
    actions = registry_actions(champion_store)
    realised = actions.check_performance(MODEL_NAME, windows)
    estimated = actions.estimate_performance(MODEL_NAME, windows)
    assert realised.significant_drop is True
    assert estimated.status == "available"
    assert estimated.significant_drop is False


def test_no_champion_results(tmp_path: Path) -> None:
    actions = registry_actions(f"sqlite:///{tmp_path / 'empty.db'}")
    windows = load_windows(data_spec("none"))
    assert actions.check_performance(MODEL_NAME, windows).status == "no_champion"
    assert actions.estimate_performance(MODEL_NAME, windows).status == "no_champion"


def test_unlabelled_window_estimate_only(champion_store: str) -> None:
    windows = load_windows(data_spec("none"))
    windows.current["target"] = np.nan
    actions = registry_actions(champion_store)
    realised = actions.check_performance(MODEL_NAME, windows)
    estimated = actions.estimate_performance(MODEL_NAME, windows)
    assert realised.status == "no_labels"
    assert f"none of the {ROWS} current rows" in realised.message
    assert estimated.status == "available"
    assert estimated.n_labelled_rows == 0


def test_regression_estimate_not_supported(champion_store: str) -> None:
    actions = registry_actions(champion_store, model_task_type="regression")
    result = actions.estimate_performance(MODEL_NAME, load_windows(data_spec("none")))
    assert result.status == "not_supported"
    assert "classifiers with probabilities only" in result.message


def test_missing_artifact_scores_reference_in_sample(tmp_path: Path, train_job: ModuleType) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    windows = load_windows(data_spec("none"))
    model = train_job.build_model(FEATURES, CATEGORICAL, "classification", 0)
    model.fit(windows.reference[FEATURES], windows.reference["target"])
    conf = RetrainingConfig(**champion_conf(uri, "none"))
    result = train_job.log_and_register(model, conf, {"seed": 0}, {})
    ModelRegistry(uri).promote(MODEL_NAME, result["version"], "champion-run")

    checked = registry_actions(uri).check_performance(MODEL_NAME, windows)
    assert checked.reference_source == "reference_window"
    assert checked.reference_in_sample is True
    assert "probably trained on" in checked.message


# The tools in the decision loop


def steps_of(store: RunStore, ctx: AgentContext) -> list[StepRecord]:
    return store.list_steps(ctx.run_id)


def test_rules_trace_has_both_tools(
    champion_store: str, store: RunStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(mlflow_tracking_uri=champion_store, eval_bootstrap_samples=300)
    windows = load_windows(data_spec("none"))
    report = detect_drift(windows, DriftConfig.from_settings(settings))
    run = store.create_run(trigger_source="test", dry_run=False, model_name=MODEL_NAME, request={})
    ctx = AgentContext(
        run_id=run.id,
        settings=settings,
        store=store,
        windows=windows,
        drift_report=report,
        actions=RegistryActions(settings, ModelRegistry(champion_store)),
        data_spec=data_spec("none").to_json_dict(),
    )

    outcome = run_decision_loop(ctx)

    results = {
        step.tool_name: step.output
        for step in steps_of(store, ctx)
        if step.kind.value == "tool_result"
    }
    for name in ("check_model_performance", "estimate_model_performance"):
        assert results[name] is not None
        assert results[name]["is_error"] is False, name
        assert results[name]["content"]["status"] == "available", name
    assert outcome.decision == "no_action"
    assert "Evidence that decided: realised performance." in outcome.summary


def test_first_message_counts_labels(make_settings: Callable[..., Settings]) -> None:
    windows = load_windows(data_spec("none"))
    evidence = summarize_evidence(windows, make_settings())
    assert evidence["labelled_current_rows"] == ROWS
    assert evidence["realised_performance"].startswith(f"possible on {ROWS} labelled")


def test_first_message_without_labels(make_settings: Callable[..., Settings]) -> None:
    windows = load_windows(data_spec("none"))
    windows.current["target"] = np.nan
    evidence = summarize_evidence(windows, make_settings(model_task_type="regression"))
    assert evidence["labelled_current_rows"] == 0
    assert evidence["realised_performance"] == "not possible: no current row has a label"
    assert evidence["estimated_performance"].startswith("not possible")


# Guardrails and the rules policy on recorded evidence


def _rows(seed: int, rows: int, flip: float = 0.0) -> LabelledScores:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, rows)
    labels = (rng.random(rows) < scores).astype(int)
    flipped = rng.random(rows) < flip
    labels[flipped] = 1 - labels[flipped]
    return LabelledScores(pd.Series(labels), ModelOutput("probabilities", scores))


def realised_result(flip: float) -> PerformanceResult:
    current = _rows(2, 3000, flip)
    return check_realised_performance(
        model_name=MODEL_NAME,
        champion_version="6",
        reference=_rows(1, 3000),
        current=current,
        task_type="classification",
        primary_metric="roc_auc",
        margin=0.02,
        n_resamples=200,
        confidence_level=0.95,
        reference_source="validation",
        n_current_rows=3000,
    )


def estimated_drop_result() -> PerformanceResult:
    # The current scores crowd around 0.5, so the expected AUC falls well below the validation AUC.
    reference = _rows(3, 3000)
    current_scores = np.random.default_rng(4).uniform(0.4, 0.6, 3000)
    return estimate_current_performance(
        model_name=MODEL_NAME,
        champion_version="6",
        validation_y=reference.y_true.to_numpy(),
        validation_scores=reference.output.values,
        current_scores=current_scores,
        primary_metric="roc_auc",
        margin=0.02,
        n_resamples=200,
        confidence_level=0.95,
        reference_source="validation",
    )


def no_labels() -> PerformanceResult:
    return unavailable("realised", "no_labels", "no current row has a label", MODEL_NAME)


def tool_env(
    make_context: Callable[..., AgentContext], report: Any, actions: InMemoryActions
) -> ToolEnv:
    return ToolEnv(ctx=make_context(report, actions), progress=RunProgress())


def test_recorded_drop_unlocks_retrain(make_context: Callable[..., AgentContext]) -> None:
    actions = InMemoryActions(realised=realised_result(flip=0.3))
    ctx = make_context(quiet_report(), actions)

    outcome = run_decision_loop(ctx)

    assert len(actions.retrain_configs) == 1
    assert outcome.decision == "promoted"
    assert "Evidence that decided: realised performance." in outcome.summary


def test_claimed_drop_does_not_unlock(make_context: Callable[..., AgentContext]) -> None:
    env = tool_env(make_context, quiet_report(), InMemoryActions())
    reason = "check_model_performance showed a drop of 0.2 roc_auc with its interval above 0"

    result = run_tool_call(build_registry(), env, "trigger_retrain", {"reason": reason})

    assert result.is_error is True
    assert result.content["rule"] == "retrain_needs_drift"
    assert env.progress.retrain_requested is False


def test_forged_progress_flag_does_not_unlock(make_context: Callable[..., AgentContext]) -> None:
    env = tool_env(make_context, quiet_report(), InMemoryActions())
    forged = realised_result(flip=0.0).to_dict()
    forged["drop"]["significant"] = True  # the numbers still show no drop

    env.progress.performance["realised"] = forged
    result = run_tool_call(build_registry(), env, "trigger_retrain", {"reason": "x" * 20})

    assert result.is_error is True
    assert result.content["rule"] == "retrain_needs_drift"


def test_tool_recorded_drop_allows_call(make_context: Callable[..., AgentContext]) -> None:
    actions = InMemoryActions(realised=realised_result(flip=0.3))
    env = tool_env(make_context, quiet_report(), actions)
    registry = build_registry()

    check = run_tool_call(registry, env, "check_model_performance", {})
    retrain = run_tool_call(registry, env, "trigger_retrain", {"reason": "realised drop 0.2"})

    assert check.content["drop"]["significant"] is True
    assert retrain.is_error is False
    assert retrain.content["state"] == "success"


def test_estimated_drop_alone_does_not_unlock(make_context: Callable[..., AgentContext]) -> None:
    actions = InMemoryActions(realised=no_labels(), estimated=estimated_drop_result())
    env = tool_env(make_context, quiet_report(), actions)
    registry = build_registry()

    estimate = run_tool_call(registry, env, "estimate_model_performance", {})
    retrain = run_tool_call(registry, env, "trigger_retrain", {"reason": "estimated drop 0.2"})

    assert estimate.content["drop"]["significant"] is True
    assert retrain.is_error is True
    assert retrain.content["rule"] == "retrain_needs_drift"


def test_rules_estimated_drop_without_drift_no_action(
    make_context: Callable[..., AgentContext],
) -> None:
    actions = InMemoryActions(realised=no_labels(), estimated=estimated_drop_result())
    outcome = run_decision_loop(make_context(quiet_report(), actions))

    assert outcome.decision == "no_action"
    assert actions.retrain_configs == []
    assert "Evidence that decided: estimated performance." in outcome.summary
    assert "comes without dataset drift" in outcome.summary


def test_rules_estimated_drop_with_drift_retrains(
    make_context: Callable[..., AgentContext],
) -> None:
    actions = InMemoryActions(realised=no_labels(), estimated=estimated_drop_result())
    outcome = run_decision_loop(make_context(drifted_report(), actions))

    assert len(actions.retrain_configs) == 1
    assert "The estimated drop comes with dataset drift." in outcome.summary


def test_rules_holding_performance_with_drift_retrains(
    make_context: Callable[..., AgentContext],
) -> None:
    actions = InMemoryActions(realised=realised_result(flip=0.0))
    outcome = run_decision_loop(make_context(drifted_report(), actions))

    assert len(actions.retrain_configs) == 1
    assert "No significant realised drop." in outcome.summary
    assert "Evidence that decided: drift." in outcome.summary


def test_rules_holding_performance_without_drift_no_action(
    make_context: Callable[..., AgentContext],
) -> None:
    actions = InMemoryActions(realised=realised_result(flip=0.0))
    outcome = run_decision_loop(make_context(quiet_report(), actions))

    assert outcome.decision == "no_action"
    assert actions.retrain_configs == []
    assert "Neither dataset nor target drift is present." in outcome.summary


def test_failed_check_falls_back_to_drift(make_context: Callable[..., AgentContext]) -> None:
    class FailingActions(InMemoryActions):
        def check_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
            raise RuntimeError("MLflow store unreachable")

    actions = FailingActions()
    ctx = make_context(drifted_report(), actions)
    outcome = run_decision_loop(ctx)

    assert outcome.decision == "promoted"
    assert "realised: error, the realised performance check failed" in outcome.summary
