"""Runs: the run history with status, trigger, decision, decision maker, duration and token usage.

Filters by status and decision. Selecting a row (or following its trace link) opens the Agent trace
page with the run id in the query string.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.api_client import ApiClient, ApiError
from dashboard.common import (
    TRACE_PAGE,
    api_client,
    decision_maker,
    parse_time,
    run_duration_seconds,
    show_api_error,
    show_no_runs,
    token_usage,
)

STATUSES = ["queued", "running", "completed", "failed", "interrupted"]
DECISIONS = ["no_action", "retrained_not_promoted", "promoted", "failed", "none"]
TRACE_URL = "agent_trace?run_id={run_id}"

st.set_page_config(page_title="Runs · watchtower", layout="wide")
st.title("Runs")


def _runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for run in runs:
        usage = token_usage(run)
        rows.append(
            {
                "triggered": parse_time(run.get("triggered_at")),
                "run_id": run["run_id"],
                "status": run.get("status"),
                "trigger": run.get("trigger_source"),
                "dry_run": bool(run.get("dry_run")),
                "decision": run.get("decision") or "none",
                "decision_maker": decision_maker(run),
                "duration_s": run_duration_seconds(run),
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "steps": run.get("step_count"),
                "trace": TRACE_URL.format(run_id=run["run_id"]),
            }
        )
    return pd.DataFrame(rows)


def _filters() -> tuple[list[str], list[str], int]:
    columns = st.columns([2, 2, 1])
    statuses = columns[0].multiselect("Status", STATUSES, placeholder="All statuses")
    decisions = columns[1].multiselect(
        "Decision",
        DECISIONS,
        placeholder="All decisions",
        help="`none`: no decision yet or dry run",
    )
    limit = columns[2].number_input(
        "Runs to load", min_value=10, max_value=5000, value=200, step=50
    )
    return statuses, decisions, int(limit)


def _load_runs(client: ApiClient, statuses: list[str], limit: int) -> list[dict[str, Any]]:
    # The API filters by one status at a time, so several statuses are filtered here.
    server_status = statuses[0] if len(statuses) == 1 else None
    runs = client.all_runs(status=server_status, max_runs=limit)
    if statuses:
        runs = [run for run in runs if run.get("status") in statuses]
    return runs


def _show_table(frame: pd.DataFrame) -> None:
    event = st.dataframe(
        frame,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="runs_table",
        column_order=[
            "triggered",
            "run_id",
            "trace",
            "status",
            "decision",
            "decision_maker",
            "trigger",
            "dry_run",
            "duration_s",
            "input_tokens",
            "output_tokens",
            "steps",
        ],
        column_config={
            "triggered": st.column_config.DatetimeColumn(
                "Triggered (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "run_id": st.column_config.TextColumn("Run id"),
            "status": st.column_config.TextColumn("Status"),
            "decision": st.column_config.TextColumn("Decision"),
            "decision_maker": st.column_config.TextColumn("Decision maker"),
            "trigger": st.column_config.TextColumn("Trigger"),
            "dry_run": st.column_config.CheckboxColumn("Dry run"),
            "steps": st.column_config.NumberColumn("Steps", format="%d"),
            "duration_s": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
            "input_tokens": st.column_config.NumberColumn("Input tokens", format="%d"),
            "output_tokens": st.column_config.NumberColumn("Output tokens", format="%d"),
            "trace": st.column_config.LinkColumn("Trace", display_text="open trace"),
        },
    )
    selected_rows = event.selection.rows if event is not None else []
    if selected_rows:
        run_id = str(frame.iloc[selected_rows[0]]["run_id"])
        st.switch_page(TRACE_PAGE, query_params={"run_id": run_id})


with api_client() as client:
    if client is not None:
        statuses, decisions, limit = _filters()
        try:
            runs = _load_runs(client, statuses, limit)
            any_runs = bool(runs) or bool(client.list_runs(limit=1).get("items"))
        except ApiError as error:
            show_api_error(error)
            st.stop()

        frame = _runs_frame(runs)
        if decisions and not frame.empty:
            frame = frame[frame["decision"].isin(decisions)].reset_index(drop=True)

        if not any_runs:
            show_no_runs(client)
        elif frame.empty:
            st.info("No run matches these filters. Clear a filter to see more runs.")
        else:
            st.caption(f"{len(frame)} runs, newest first. Select a row to open its trace.")
            _show_table(frame)
