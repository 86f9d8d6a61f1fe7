"""Drawing one run's trace: the run header, each step as a card in a vertical timeline, the summary."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.common import (
    decision_maker,
    format_seconds,
    format_time,
    run_duration_seconds,
    token_usage,
    total_tokens,
)
from dashboard.derive import StepLabel, classify_step, result_content

STEP_TITLES: dict[StepLabel, tuple[str, str]] = {
    "reasoning": (":material/psychology:", "Reasoning"),
    "tool_call": (":material/build:", "Tool call"),
    "tool_result": (":material/output:", "Tool result"),
    "rejected": (":material/block:", "Rejected call"),
    "tool_error": (":material/error:", "Tool error"),
    "status": (":material/info:", "Status"),
    "error": (":material/report:", "Error"),
}


def _step_caption(step: dict[str, Any]) -> str:
    parts = [format_time(step.get("created_at"))]
    duration_ms = step.get("duration_ms")
    if duration_ms is not None:
        parts.append(format_seconds(float(duration_ms) / 1000))
    usage = step.get("usage") or {}
    if usage:
        parts.append(
            f"{usage.get('input_tokens', 0)} input / {usage.get('output_tokens', 0)} output tokens"
        )
    output = step.get("output")
    if isinstance(output, dict) and output.get("tool_use_id"):
        parts.append(f"tool use `{output['tool_use_id']}`")
    return " · ".join(parts)


def _error_text(output: dict[str, Any]) -> str:
    for key in ("message", "error", "detail"):
        value = output.get(key)
        if isinstance(value, str) and value:
            return value
    return "The tool reported an error."


def render_step(step: dict[str, Any]) -> None:
    """Draw one step as a bordered card: a title line, a caption with timing and tokens, the body."""
    label = classify_step(step)
    icon, title = STEP_TITLES[label]
    tool = step.get("tool_name")
    heading = f"**#{step.get('seq')} {title}**" + (f" · `{tool}`" if tool else "")
    with st.container(border=True):
        st.markdown(f"{icon} {heading}")
        st.caption(_step_caption(step))
        _render_body(step, label)


def _render_body(step: dict[str, Any], label: StepLabel) -> None:
    text = step.get("text")
    if label == "reasoning":
        st.markdown(text or "_(empty reasoning block)_")
    elif label == "tool_call":
        if text:
            st.markdown(text)
        st.json(step.get("input") or {}, expanded=True)
    elif label in ("rejected", "tool_error"):
        output = result_content(step.get("output"))
        message = _error_text(output)
        if label == "rejected":
            st.warning(f"Rejected by a rule enforced in code: {message}")
        else:
            st.error(message)
        st.json(output, expanded=False)
    elif label == "tool_result":
        if text:
            st.markdown(text)
        st.json(result_content(step.get("output")), expanded=1)
    elif label == "error":
        st.error(text or "The run reported an error.")
        if step.get("output"):
            st.json(step["output"], expanded=False)
    else:
        st.markdown(text or "")
        if step.get("output"):
            st.json(step["output"], expanded=False)


def render_run_header(run: dict[str, Any]) -> None:
    """Draw the run's status, decision, decision maker, duration and token totals."""
    columns = st.columns([1, 2, 1.5, 1, 1])
    columns[0].metric("Status", run.get("status", "–"))
    columns[1].metric("Decision", run.get("decision") or "–")
    columns[2].metric("Decision maker", decision_maker(run))
    columns[3].metric("Duration", format_seconds(run_duration_seconds(run)))
    usage = token_usage(run)
    columns[4].metric("Tokens", f"{total_tokens(usage):,}")
    st.caption(
        f"Run `{run.get('run_id')}` · trigger `{run.get('trigger_source', '–')}` · "
        f"{'dry run' if run.get('dry_run') else 'full run'} · model `{run.get('model_name', '–')}` · "
        f"triggered {format_time(run.get('triggered_at'))} · finished {format_time(run.get('finished_at'))}"
    )
    if total_tokens(usage):
        st.caption(" · ".join(f"{name}: {count:,}" for name, count in usage.items()))


def render_summary(run: dict[str, Any]) -> None:
    """Draw the run's ending: its error, if any, then its summary."""
    st.subheader("Summary")
    if run.get("error"):
        st.error(f"The run failed: {run['error']}")
    if run.get("dry_run"):
        st.caption("Dry run: drift detection only, so no decision maker ran.")
    summary = run.get("summary")
    if summary:
        st.markdown(summary)
    else:
        st.info("This run has no summary.")
