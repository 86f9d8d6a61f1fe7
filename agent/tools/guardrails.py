"""The rules enforced in code, whatever the decision maker requests.

Each check reads only this run's drift report, this run's progress (including the performance results
the tools computed) and this run's stored evaluation report. None of them reads text the model wrote or names taken from the data, so no instruction hidden
in a feature name or a reason can unlock a forbidden action.
"""

from __future__ import annotations

from typing import Any

from agent.steps import Decision
from agent.tools.base import RunProgress, ToolRejected
from drift.report import DriftReport


def drift_warrants_retrain(report: DriftReport) -> bool:
    """Return True when the report shows dataset drift or target drift."""
    target_drifted = report.target is not None and report.target.drifted
    return report.dataset.drifted or target_drifted


def describe_drift_evidence(report: DriftReport) -> str:
    """Describe the dataset and target verdicts with the numbers behind them."""
    dataset = report.dataset
    parts = [
        f"dataset drift share {dataset.drift_share:.3f} ({dataset.n_drifted} of {dataset.n_tested} "
        f"features) against threshold {dataset.threshold:.3f}: "
        f"{'drifted' if dataset.drifted else 'not drifted'}"
    ]
    if report.target is None:
        parts.append("no target drift result")
    else:
        target = report.target
        parts.append(
            f"target {target.column!r} ({target.method}, p={_format_number(target.p_value)} against "
            f"alpha {_format_number(target.p_value_threshold)}, PSI {_format_number(target.psi)}): "
            f"{'drifted' if target.drifted else 'not drifted'}"
        )
    return "; ".join(parts)


def recorded_performance_drop(progress: RunProgress, margin: float) -> dict[str, Any] | None:
    """Return the drop of this run's realised performance check when it is significant, else None.

    Significant means that check_model_performance measured a drop of at least `margin` whose
    interval's lower bound is above 0. The numbers are re-read from the stored result, so no flag
    or text written by the decision maker counts. Estimated drops never count here.
    """
    return significant_drop(progress.performance.get("realised"), margin)


def significant_drop(result: dict[str, Any] | None, margin: float) -> dict[str, Any] | None:
    """Return the drop of a performance result when it reaches `margin` with its interval above 0."""
    if result is None or result.get("status") != "available":
        return None
    drop = result.get("drop") or {}
    value, low = drop.get("drop"), drop.get("ci_low")
    if not isinstance(value, int | float) or not isinstance(low, int | float):
        return None
    if value >= margin and low > 0.0:
        return drop
    return None


def describe_performance_drop(drop: dict[str, Any] | None, margin: float) -> str:
    """Describe the recorded realised drop, or state that none was recorded."""
    if drop is None:
        return f"no realised performance drop of at least {margin:g} with its interval above 0"
    return (
        f"a realised performance drop of {_format_number(drop.get('drop'))} (interval "
        f"{_format_number(drop.get('ci_low'))} to {_format_number(drop.get('ci_high'))}) against "
        f"margin {margin:g}"
    )


def check_retrain_allowed(report: DriftReport, progress: RunProgress, drop_margin: float) -> None:
    """Raise `ToolRejected` unless this run may trigger its retrain now.

    A retrain needs dataset drift, target drift, or a significant realised performance drop recorded
    by check_model_performance in this run (concept drift shows as such a drop).
    """
    if progress.retrain_requested:
        raise ToolRejected(
            "retrain_once",
            "trigger_retrain was already called in this run; a run retrains at most once. "
            "Continue with evaluate_model or write_summary.",
        )
    drop = recorded_performance_drop(progress, drop_margin)
    if not drift_warrants_retrain(report) and drop is None:
        raise ToolRejected(
            "retrain_needs_drift",
            "retraining is allowed only when this run shows dataset drift, target drift or a "
            "realised performance drop measured by check_model_performance, and it shows none "
            f"({describe_drift_evidence(report)}; {describe_performance_drop(drop, drop_margin)}). "
            "Call write_summary with decision no_action.",
        )


def check_evaluate_allowed(progress: RunProgress) -> None:
    """Raise `ToolRejected` unless a retrain succeeded in this run and nothing was evaluated yet."""
    if progress.evaluated:
        raise ToolRejected(
            "evaluate_once",
            "evaluate_model already ran in this run and its report is stored; "
            "call promote_model or write_summary.",
        )
    if progress.retrain_succeeded():
        return
    if not progress.retrain_requested:
        detail = "no retrain was triggered in this run"
    else:
        detail = f"the retrain of this run did not register a model version ({progress.retrain_error or _retrain_state(progress)})"
    raise ToolRejected(
        "evaluate_needs_retrain",
        f"evaluate_model needs a successful retrain in this run, but {detail}.",
    )


def check_promote_allowed(stored_report: dict[str, Any] | None, progress: RunProgress) -> None:
    """Raise `ToolRejected` unless this run's stored evaluation report recommends promotion."""
    if progress.promotion is not None:
        raise ToolRejected(
            "promote_once", "promote_model already moved the champion alias in this run."
        )
    if stored_report is None:
        raise ToolRejected(
            "promote_needs_evaluation",
            "promote_model needs this run's stored evaluation report, and there is none; "
            "a model is promoted only after evaluate_model recommends it.",
        )
    if stored_report.get("recommend_promotion") is not True:
        raise ToolRejected(
            "promote_needs_recommendation",
            "this run's evaluation report does not recommend promotion "
            f"(reason: {stored_report.get('reason', 'none given')}). Call write_summary with decision "
            "retrained_not_promoted.",
        )
    expected = _retrained_version(progress)
    evaluated = (stored_report.get("challenger") or {}).get("version")
    if expected is not None and evaluated != expected:
        raise ToolRejected(
            "promote_version_mismatch",
            f"the stored evaluation scored version {evaluated!r}, but this run's retrain registered "
            f"version {expected!r}; only the evaluated version of this run can be promoted.",
        )


def check_summary_decision(decision: Decision, progress: RunProgress) -> None:
    """Raise `ToolRejected` when the summary's decision contradicts the actions of this run."""
    actual = progress.decision_so_far()
    if decision != actual:
        raise ToolRejected(
            "summary_decision_mismatch",
            f"decision {decision.value!r} does not match what this run did; the actions so far amount "
            f"to {actual.value!r}. Call write_summary again with decision {actual.value!r}.",
        )


def _retrained_version(progress: RunProgress) -> str | None:
    if progress.retrain is None or progress.retrain.model is None:
        return None
    return progress.retrain.model.version


def _retrain_state(progress: RunProgress) -> str:
    if progress.retrain is None:
        return "no outcome"
    return f"state {progress.retrain.state}: {progress.retrain.message}"


def _format_number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
