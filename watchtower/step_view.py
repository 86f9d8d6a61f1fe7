"""Compact, readable lines for audit steps, for people watching a run in a terminal.

`watchtower runs show` prints every field of every step; this view prints what a person follows live:
the reasoning text, each tool call with its arguments, and the key numbers of each result.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from agent.run_store import StepRecord
from agent.steps import StepKind

WIDTH = 100
INDENT = "      "


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _wrap(text: str, prefix: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(
            textwrap.wrap(paragraph, WIDTH, initial_indent=prefix, subsequent_indent=INDENT)
            or [prefix]
        )
    return lines


def _drift_result(content: dict[str, Any]) -> str:
    top = ", ".join(item["name"] for item in content.get("top_features", [])[:5]) or "none"
    verdict = "dataset drift" if content.get("dataset_drift") else "no dataset drift"
    return (
        f"{verdict}: {content.get('n_drifted')} of {content.get('n_tested')} features drifted "
        f"(share {_number(content.get('drift_share'), 3)}, threshold "
        f"{_number(content.get('threshold'), 2)}); top: {top}"
    )


def _retrain_result(content: dict[str, Any]) -> str:
    window = content.get("training_window") or {}
    return (
        f"{content.get('state')}: registered {content.get('model_name')} version "
        f"{content.get('model_version')} in {_number(content.get('duration_seconds'), 1)} s "
        f"({content.get('backend')} backend, {window.get('rows', '?')} training rows)"
    )


def _eval_result(content: dict[str, Any]) -> str:
    metric = content.get("primary_metric", "metric")
    challenger = (content.get("challenger") or {}).get("metrics", {}).get(metric)
    champion = ((content.get("champion") or {}).get("metrics") or {}).get(metric)
    difference = content.get("difference") or {}
    verdict = "recommends promotion" if content.get("recommend_promotion") else "no promotion"
    return (
        f"{metric}: challenger {_number(challenger)} vs champion {_number(champion)}, "
        f"gain {_number(difference.get('difference'))} "
        f"[{_number(difference.get('ci_low'))}, {_number(difference.get('ci_high'))}] "
        f"on {content.get('n_eval_rows')} held-out rows: {verdict}"
    )


def _promote_result(content: dict[str, Any]) -> str:
    return (
        f"alias champion -> version {content.get('champion_version')} "
        f"(previous-champion -> {content.get('previous_champion_version') or 'none'})"
    )


def _result_line(tool_name: str | None, output: dict[str, Any]) -> str:
    content = output.get("content", output)
    if output.get("is_error"):
        return f"rejected: {content if isinstance(content, str) else json.dumps(content)}"
    if not isinstance(content, dict):
        return str(content)
    formatters = {
        "detect_drift": _drift_result,
        "trigger_retrain": _retrain_result,
        "evaluate_model": _eval_result,
        "promote_model": _promote_result,
    }
    formatter = formatters.get(tool_name or "")
    if formatter is not None:
        try:
            return formatter(content)
        except (KeyError, TypeError, AttributeError):
            pass
    text = json.dumps(content, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def _arguments(step: StepRecord) -> str:
    if not step.input:
        return ""
    text = json.dumps(step.input, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def format_step_line(step: StepRecord) -> list[str]:
    """Return the lines that show one step; a tool call and its result read as a pair."""
    label = f"[{step.seq:>2}]"
    if step.kind == StepKind.LLM_REASONING:
        return _wrap(step.text or "", f"{label} thinks: ")
    if step.kind == StepKind.TOOL_CALL:
        return _wrap(f"{step.tool_name}({_arguments(step)})", f"{label} calls ")
    if step.kind == StepKind.TOOL_RESULT:
        duration = f" ({step.duration_ms / 1000:.1f} s)" if step.duration_ms else ""
        return _wrap(
            _result_line(step.tool_name, step.output or {}), f"{label} {step.tool_name}{duration}: "
        )
    if step.kind == StepKind.ERROR:
        return _wrap(step.text or json.dumps(step.output, default=str), f"{label} error: ")
    return _wrap(step.text or "", f"{label} ")
