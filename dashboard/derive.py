"""Tables the pages plot, built from API responses only (runs, drift snapshots, eval reports, steps).

Pure functions over plain dicts, so they are tested without Streamlit or a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

ChampionSource = Literal["promoted", "seen_at_evaluation", "carried_over", "unknown"]
StepLabel = Literal[
    "reasoning", "tool_call", "tool_result", "rejected", "tool_error", "status", "error"
]

DRIFT_FEATURE_COLUMNS = [
    "run_id",
    "triggered_at",
    "feature",
    "kind",
    "method",
    "effect_size",
    "effect_threshold",
    "p_value",
    "p_value_threshold",
    "drifted",
]
DATASET_DRIFT_COLUMNS = [
    "run_id",
    "triggered_at",
    "drift_share",
    "threshold",
    "drifted",
    "n_drifted",
    "n_tested",
    "target_drifted",
]
COMPARISON_COLUMNS = [
    "run_id",
    "triggered_at",
    "metric",
    "champion_version",
    "champion_value",
    "challenger_version",
    "challenger_value",
    "difference",
    "ci_low",
    "ci_high",
    "confidence_level",
    "min_improvement",
    "recommend_promotion",
    "decision",
    "reason",
]
CHAMPION_COLUMNS = ["run_id", "triggered_at", "decision", "champion_version", "source"]


def _timestamp(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    moment = pd.Timestamp(value)
    return moment.tz_convert("UTC") if moment.tzinfo else moment.tz_localize("UTC")


def drift_feature_frame(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> pd.DataFrame:
    """Build one row per (run, feature) from `(run, drift report)` pairs, oldest run first.

    `effect_size` is the report's effect measure (PSI); `drifted` is the engine's verdict, which
    combines the corrected p-value with the effect threshold.
    """
    rows = []
    for run, report in pairs:
        for feature in report.get("features") or []:
            rows.append(
                {
                    "run_id": run["run_id"],
                    "triggered_at": _timestamp(run.get("triggered_at")),
                    "feature": feature.get("name"),
                    "kind": feature.get("kind"),
                    "method": feature.get("method"),
                    "effect_size": feature.get("effect_size"),
                    "effect_threshold": feature.get("effect_threshold"),
                    "p_value": feature.get("p_value"),
                    "p_value_threshold": feature.get("p_value_threshold"),
                    "drifted": bool(feature.get("drifted")),
                }
            )
    frame = pd.DataFrame(rows, columns=DRIFT_FEATURE_COLUMNS)
    return frame.sort_values(["triggered_at", "feature"], kind="stable").reset_index(drop=True)


def dataset_drift_frame(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> pd.DataFrame:
    """Build one row per run: the share of tested features that drifted, and the dataset threshold."""
    rows = []
    for run, report in pairs:
        dataset = report.get("dataset") or {}
        target = report.get("target") or {}
        rows.append(
            {
                "run_id": run["run_id"],
                "triggered_at": _timestamp(run.get("triggered_at")),
                "drift_share": dataset.get("drift_share"),
                "threshold": dataset.get("threshold"),
                "drifted": bool(dataset.get("drifted")),
                "n_drifted": dataset.get("n_drifted"),
                "n_tested": dataset.get("n_tested"),
                "target_drifted": bool(target.get("drifted")) if target else None,
            }
        )
    frame = pd.DataFrame(rows, columns=DATASET_DRIFT_COLUMNS)
    return frame.sort_values("triggered_at", kind="stable").reset_index(drop=True)


def _metric_value(score: dict[str, Any] | None, metric: str) -> float | None:
    if not score:
        return None
    value = (score.get("metrics") or {}).get(metric)
    return float(value) if value is not None else None


def comparison_frame(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> pd.DataFrame:
    """Build one row per evaluated run: champion and challenger on the primary metric, with the CI.

    `difference`, `ci_low` and `ci_high` are challenger minus champion from the paired bootstrap,
    oriented so that positive means the challenger is better (for RMSE too).
    """
    rows = []
    for run, report in pairs:
        metric = str(report.get("primary_metric") or "")
        champion = report.get("champion")
        challenger = report.get("challenger")
        difference = report.get("difference") or {}
        rows.append(
            {
                "run_id": run["run_id"],
                "triggered_at": _timestamp(run.get("triggered_at")),
                "metric": metric,
                "champion_version": (champion or {}).get("version"),
                "champion_value": _metric_value(champion, metric),
                "challenger_version": (challenger or {}).get("version"),
                "challenger_value": _metric_value(challenger, metric),
                "difference": difference.get("difference"),
                "ci_low": difference.get("ci_low"),
                "ci_high": difference.get("ci_high"),
                "confidence_level": difference.get("confidence_level"),
                "min_improvement": report.get("min_improvement"),
                "recommend_promotion": bool(report.get("recommend_promotion")),
                "decision": run.get("decision"),
                "reason": report.get("reason"),
            }
        )
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return frame.sort_values("triggered_at", kind="stable").reset_index(drop=True)


def result_content(output: dict[str, Any] | None) -> dict[str, Any]:
    """Return what a tool returned, unwrapped from the `{tool_use_id, is_error, content}` envelope.

    Tool results of the decision loop are stored in that envelope; a step written by the pipeline
    itself (such as `detect_drift`) stores the result directly.
    """
    if not isinstance(output, dict):
        return {}
    content = output.get("content")
    if "is_error" in output and isinstance(content, dict):
        return content
    return output


def output_is_error(output: dict[str, Any] | None) -> bool:
    """Tell whether a tool result reports a failure instead of a result."""
    if not isinstance(output, dict):
        return False
    return bool(output.get("is_error")) or "error" in result_content(output)


def output_is_rejection(output: dict[str, Any] | None) -> bool:
    """Tell whether a failed tool result is a call that a rule enforced in code rejected."""
    if not output_is_error(output):
        return False
    # Tool errors carry their kind in `error` ("rejected", "invalid_input", "failed", ...) and a
    # rejection also names the rule it enforced.
    content = result_content(output)
    return content.get("error") == "rejected" or bool(content.get("rule"))


def classify_step(step: dict[str, Any]) -> StepLabel:
    """Label a trace step for display, telling rejected and failed tool results apart."""
    kind = step.get("kind")
    if kind == "llm_reasoning":
        return "reasoning"
    if kind == "tool_call":
        return "tool_call"
    if kind == "tool_result":
        output = step.get("output")
        if output_is_rejection(output):
            return "rejected"
        if output_is_error(output):
            return "tool_error"
        return "tool_result"
    if kind == "error":
        return "error"
    return "status"


@dataclass(frozen=True)
class Promotion:
    """A successful `promote_model` result read from a run's trace."""

    run_id: str
    champion_version: str
    previous_champion_version: str | None


def find_promotion(run_id: str, steps: list[dict[str, Any]]) -> Promotion | None:
    """Return the run's successful `promote_model` result, or None when nothing was promoted."""
    for step in steps:
        if step.get("kind") != "tool_result" or step.get("tool_name") != "promote_model":
            continue
        output = step.get("output") or {}
        if output_is_error(output):
            continue
        content = result_content(output)
        version = content.get("champion_version")
        if version is None:
            continue
        previous = content.get("previous_champion_version")
        return Promotion(run_id, str(version), str(previous) if previous is not None else None)
    return None


def champion_history(
    runs: list[dict[str, Any]],
    eval_reports: dict[str, dict[str, Any]],
    promotions: dict[str, Promotion],
) -> pd.DataFrame:
    """Derive which model version held the `champion` alias after each run, oldest run first.

    The API keeps no alias history, so each run takes the first of these that exists:
    - `promoted`: the version named by the run's successful `promote_model` result;
    - `seen_at_evaluation`: the champion that the run's evaluation scored;
    - `carried_over`: the last known champion from an earlier run;
    - `unknown`: no evidence yet.

    NOTE: an alias moved outside watchtower (by hand in MLflow) shows up only at the next evaluation.
    """
    ordered = sorted(runs, key=lambda run: str(run.get("triggered_at") or ""))
    rows = []
    current: str | None = None
    for run in ordered:
        run_id = run["run_id"]
        source: ChampionSource
        promotion = promotions.get(run_id)
        champion = (eval_reports.get(run_id) or {}).get("champion") or {}
        if promotion is not None:
            current, source = promotion.champion_version, "promoted"
        elif champion.get("version") is not None:
            current, source = str(champion["version"]), "seen_at_evaluation"
        elif current is not None:
            source = "carried_over"
        else:
            source = "unknown"
        rows.append(
            {
                "run_id": run_id,
                "triggered_at": _timestamp(run.get("triggered_at")),
                "decision": run.get("decision"),
                "champion_version": current,
                "source": source,
            }
        )
    return pd.DataFrame(rows, columns=CHAMPION_COLUMNS)
