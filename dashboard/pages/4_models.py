"""Models: champion against challenger per run, and which version held `champion` after each run.

The comparison comes from each run's evaluation report (`GET /reports/eval/{run_id}`). The API keeps
no alias history, so the champion after each run is derived from the runs' `promote_model` results
and from the champion each evaluation scored (see `dashboard.derive.champion_history`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.api_client import ApiClient, ApiError
from dashboard.common import api_client, show_api_error, show_no_runs
from dashboard.derive import Promotion, champion_history, comparison_frame, find_promotion

SOURCE_LABELS = {
    "promoted": "promoted in this run",
    "seen_at_evaluation": "scored as champion by this run's evaluation",
    "carried_over": "unchanged since an earlier run",
    "unknown": "not known yet (no evaluation or promotion so far)",
}

st.set_page_config(page_title="Models · watchtower", layout="wide")
st.title("Models")


def _load(
    client: ApiClient, max_runs: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, Promotion]]:
    runs = [run for run in client.all_runs(max_runs=max_runs) if not run.get("dry_run")]
    reports: dict[str, dict[str, Any]] = {}
    promotions: dict[str, Promotion] = {}
    for run in runs:
        report = client.eval_report(run["run_id"])
        if report is not None:
            reports[run["run_id"]] = report
        # Only a run whose decision is `promoted` can hold a successful promote_model result.
        if run.get("decision") == "promoted":
            steps = client.get_run(run["run_id"]).get("steps") or []
            promotion = find_promotion(run["run_id"], steps)
            if promotion is not None:
                promotions[run["run_id"]] = promotion
    return runs, reports, promotions


def _run_label(frame: pd.DataFrame) -> pd.Series:
    return frame["triggered_at"].dt.strftime("%m-%d %H:%M:%S") + " · " + frame["run_id"].str[:8]


def _metric_chart(comparison: pd.DataFrame) -> go.Figure:
    frame = comparison.assign(run=_run_label(comparison))
    figure = go.Figure()
    figure.add_scatter(
        x=frame["run"], y=frame["champion_value"], name="champion", mode="markers", marker_size=12
    )
    figure.add_scatter(
        x=frame["run"],
        y=frame["challenger_value"],
        name="challenger",
        mode="markers",
        marker={"size": 12, "symbol": "diamond"},
    )
    metric = frame["metric"].iloc[-1]
    figure.update_layout(yaxis_title=metric, xaxis_title="run", height=340)
    return figure


def _difference_chart(comparison: pd.DataFrame) -> go.Figure:
    frame = comparison.assign(run=_run_label(comparison))
    figure = go.Figure()
    figure.add_scatter(
        x=frame["run"],
        y=frame["difference"],
        name="challenger − champion",
        mode="markers",
        marker={
            "size": 12,
            "color": ["#2ca02c" if rec else "#7f7f7f" for rec in frame["recommend_promotion"]],
        },
        error_y={
            "type": "data",
            "symmetric": False,
            "array": (frame["ci_high"] - frame["difference"]).tolist(),
            "arrayminus": (frame["difference"] - frame["ci_low"]).tolist(),
        },
    )
    figure.add_scatter(
        x=frame["run"],
        y=frame["min_improvement"],
        name="minimum improvement",
        mode="lines",
        line={"dash": "dash", "color": "black"},
    )
    figure.add_hline(y=0, line_color="#999999")
    figure.update_layout(
        yaxis_title="difference (positive = challenger better)", xaxis_title="run", height=360
    )
    return figure


def _show_comparison(comparison: pd.DataFrame) -> None:
    st.subheader("Champion against challenger")
    latest = comparison.iloc[-1]
    level = latest["confidence_level"]
    interval = f"{level:.0%} paired-bootstrap" if pd.notna(level) else "paired-bootstrap"
    st.caption(
        f"Primary metric `{latest['metric']}` on the held-out evaluation rows. The error bars are "
        f"the {interval} confidence interval of challenger minus champion; green points are the "
        "runs whose evaluation recommended promotion."
    )
    st.plotly_chart(_metric_chart(comparison), width="stretch")

    without_champion = int(comparison["champion_version"].isna().sum())
    if without_champion:
        st.caption(
            f"{without_champion} evaluated run(s) had no champion to compare with, so their "
            "challenger was judged on its own and has no difference to plot (see `reason`)."
        )
    st.plotly_chart(_difference_chart(comparison), width="stretch")
    st.dataframe(
        comparison,
        hide_index=True,
        column_config={
            "triggered_at": st.column_config.DatetimeColumn(
                "Triggered (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "champion_value": st.column_config.NumberColumn(format="%.4f"),
            "challenger_value": st.column_config.NumberColumn(format="%.4f"),
            "difference": st.column_config.NumberColumn(format="%.4f"),
            "ci_low": st.column_config.NumberColumn(format="%.4f"),
            "ci_high": st.column_config.NumberColumn(format="%.4f"),
        },
    )


def _show_history(history: pd.DataFrame) -> None:
    st.subheader("Version holding `champion` after each run")
    st.caption("Derived from the promote_model results and evaluation reports of each run.")
    labelled = history.assign(source=history["source"].map(SOURCE_LABELS))
    st.dataframe(labelled, hide_index=True)


with api_client() as client:
    if client is not None:
        max_runs = st.sidebar.number_input("Runs to read", min_value=1, max_value=500, value=50)
        try:
            runs, reports, promotions = _load(client, int(max_runs))
            any_runs = bool(runs) or bool(client.list_runs(limit=1).get("items"))
        except ApiError as error:
            show_api_error(error)
            st.stop()

        if not any_runs:
            show_no_runs(client)
        elif not reports:
            st.info(
                "No run has evaluated a challenger yet. Evaluations happen only in full runs "
                "(not dry runs) where drift led the decision maker to retrain; the demo "
                "(`watchtower demo`) does that."
            )
        else:
            _show_comparison(
                comparison_frame(
                    [(run, reports[run["run_id"]]) for run in runs if run["run_id"] in reports]
                )
            )
        if runs:
            _show_history(champion_history(runs, reports, promotions))
