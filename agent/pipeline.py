"""The background work of one pipeline run: load data, detect drift, let the decision maker act.

`execute_run` catches every `Exception`: the run then ends `failed` with the reason in the run and in
an error step, so no run is left `running` by an exception.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.steps import Decision, RunStatus, StepKind

if TYPE_CHECKING:
    from agent.context import Actions, AgentContext, AgentOutcome
    from agent.run_store import RunStore
    from data.base import DataWindows
    from data.spec import DataSpec
    from drift.report import DriftReport
    from watchtower.settings import Settings

logger = logging.getLogger(__name__)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _config_json(config: Any) -> dict[str, Any]:
    """Return the drift configuration as a dict, whether it is a dataclass or a pydantic model."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if hasattr(config, "model_dump"):
        return dict(config.model_dump(mode="json"))
    return dict(vars(config))


def _feature_evidence(report: DriftReport, name: str) -> dict[str, Any]:
    feature = report.feature(name)
    return {
        "name": feature.name,
        "method": feature.method,
        "statistic": feature.statistic,
        "p_value": feature.p_value,
        "psi": feature.psi,
        "drifted": feature.drifted,
    }


def summarize_drift(report: DriftReport) -> dict[str, Any]:
    """Return the drift verdict with its evidence, small enough for one audit step."""
    dataset = report.dataset
    summary: dict[str, Any] = {
        "dataset_drift": dataset.drifted,
        "drift_share": dataset.drift_share,
        "threshold": dataset.threshold,
        "n_tested": dataset.n_tested,
        "n_drifted": dataset.n_drifted,
        "correction": dataset.correction,
        "alpha": dataset.alpha,
        "top_features": [_feature_evidence(report, name) for name in report.top_drifted],
        "n_reference": report.n_reference,
        "n_current": report.n_current,
        "skipped": [item.name for item in report.skipped],
        "warnings": report.warnings,
    }
    if report.target is not None:
        summary["target_drift"] = {
            "column": report.target.column,
            "method": report.target.method,
            "p_value": report.target.p_value,
            "kl_divergence": report.target.kl_divergence,
            "drifted": report.target.drifted,
        }
    return summary


def describe_drift(summary: dict[str, Any]) -> str:
    """Write the drift verdict as one sentence for the run summary."""
    verdict = "Dataset drift detected" if summary["dataset_drift"] else "No dataset drift"
    text = (
        f"{verdict}: {summary['n_drifted']} of {summary['n_tested']} features drifted "
        f"(share {summary['drift_share']:.3f}, threshold {summary['threshold']:.3f})."
    )
    top = [item["name"] for item in summary["top_features"][:5]]
    if top:
        text += f" Most drifted: {', '.join(top)}."
    target = summary.get("target_drift")
    if target is not None:
        text += f" Target drift: {'yes' if target['drifted'] else 'no'}."
    return text


def _load_data(
    run_id: str, store: RunStore, settings: Settings, request: dict[str, Any]
) -> tuple[DataSpec, DataWindows]:
    from data.spec import DataSpec, load_windows

    started = time.perf_counter()
    spec = DataSpec.from_settings(
        settings,
        reference_window=request.get("reference_window"),
        current_window=request.get("current_window"),
    )
    windows = load_windows(spec)
    store.add_step(
        run_id,
        StepKind.STATUS,
        text=(
            f"Loaded the {spec.source} data: {len(windows.reference)} reference rows and "
            f"{len(windows.current)} current rows."
        ),
        output={
            "source": spec.source,
            "reference_rows": len(windows.reference),
            "current_rows": len(windows.current),
            "schema": windows.schema.to_dict(),
            "description": windows.description,
        },
        duration_ms=_elapsed_ms(started),
    )
    return spec, windows


def _detect_drift(
    run_id: str, store: RunStore, settings: Settings, windows: DataWindows
) -> tuple[DriftReport, dict[str, Any]]:
    from drift.engine import DriftConfig, detect_drift

    config = DriftConfig.from_settings(settings)
    store.add_step(run_id, StepKind.TOOL_CALL, tool_name="detect_drift", input=_config_json(config))

    started = time.perf_counter()
    report = detect_drift(windows, config)
    duration = _elapsed_ms(started)

    store.save_drift_snapshot(run_id, report.to_dict())
    summary = summarize_drift(report)
    store.add_step(
        run_id,
        StepKind.TOOL_RESULT,
        tool_name="detect_drift",
        output=summary,
        text=describe_drift(summary),
        duration_ms=duration,
    )
    return report, summary


def _run_decision_loop(
    run_id: str,
    store: RunStore,
    settings: Settings,
    spec: DataSpec,
    windows: DataWindows,
    report: DriftReport,
    decide: Callable[[AgentContext], AgentOutcome] | None,
    actions: Actions | None,
) -> AgentOutcome:
    from agent.context import AgentContext

    if decide is None:
        from agent.orchestrator import run_decision_loop

        decide = run_decision_loop
    if actions is None:
        from training.actions import build_actions

        actions = build_actions(settings)

    backend = settings.resolved_agent_backend
    store.set_decision_maker(
        run_id, backend, settings.anthropic_model if backend == "claude" else None
    )
    context = AgentContext(
        run_id=run_id,
        settings=settings,
        store=store,
        windows=windows,
        drift_report=report,
        actions=actions,
        data_spec=spec.to_json_dict(),
    )
    outcome = decide(context)
    store.set_decision_maker(run_id, outcome.backend, outcome.model)
    return outcome


def _finish(
    run_id: str,
    store: RunStore,
    status: RunStatus,
    decision: Decision | str,
    summary: str,
    error: str | None = None,
) -> None:
    store.add_step(
        run_id,
        StepKind.STATUS,
        text=f"Run {status.value} with decision {Decision(decision).value}.",
        output={"status": status.value, "decision": Decision(decision).value, "error": error},
    )
    store.finish_run(run_id, status, decision, error=error, summary=summary)


def _fail(run_id: str, store: RunStore, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    logger.exception("Run %s failed: %s", run_id, reason)
    try:
        store.add_step(
            run_id, StepKind.ERROR, text=reason, output={"error_type": type(exc).__name__}
        )
        store.finish_run(run_id, RunStatus.FAILED, Decision.FAILED, error=reason, summary=reason)
    except Exception:
        # The store itself failed (for example the database is gone); the log is all that is left.
        logger.exception("Run %s: could not record the failure in the run store", run_id)


def execute_run(
    run_id: str,
    store: RunStore,
    settings: Settings,
    request: dict[str, Any],
    *,
    decide: Callable[[AgentContext], AgentOutcome] | None = None,
    actions: Actions | None = None,
) -> None:
    """Run one pipeline run to its end and record every step.

    A dry run stops after drift detection with the decision `no_action`. Otherwise `decide` (default:
    `agent.orchestrator.run_decision_loop`) decides with `actions` (default:
    `training.actions.build_actions(settings)`). Any exception ends the run `failed` with the reason.
    """
    dry_run = bool(request.get("dry_run", False))
    logger.info("Run %s starting (dry_run=%s)", run_id, dry_run)
    started = time.perf_counter()
    status = RunStatus.FAILED
    try:
        store.mark_started(run_id)
        store.add_step(
            run_id,
            StepKind.STATUS,
            text="Run started" + (" (dry run: drift detection only)." if dry_run else "."),
            output={"status": RunStatus.RUNNING.value, "dry_run": dry_run},
        )
        spec, windows = _load_data(run_id, store, settings, request)
        report, summary = _detect_drift(run_id, store, settings, windows)

        if dry_run:
            status = RunStatus.COMPLETED
            _finish(run_id, store, status, Decision.NO_ACTION, describe_drift(summary))
        else:
            outcome = _run_decision_loop(
                run_id, store, settings, spec, windows, report, decide, actions
            )
            status = (
                RunStatus.FAILED if outcome.decision == Decision.FAILED else RunStatus.COMPLETED
            )
            _finish(run_id, store, status, outcome.decision, outcome.summary, outcome.error)
    except Exception as exc:
        status = RunStatus.FAILED
        _fail(run_id, store, exc)

    logger.info(
        "Run %s finished: %s in %.1f s", run_id, status.value, time.perf_counter() - started
    )
