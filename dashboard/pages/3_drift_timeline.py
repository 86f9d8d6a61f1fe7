"""Drift timeline: per-feature drift across runs, and the dataset drift share against its threshold.

Reads the drift snapshot of each recent run (`GET /reports/drift/{run_id}`); runs without one (failed
before drift detection, or still running) are left out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard.api_client import ApiClient, ApiError
from dashboard.common import api_client, format_time, short_id, show_api_error, show_no_runs
from dashboard.derive import dataset_drift_frame, drift_feature_frame

st.set_page_config(page_title="Drift timeline · watchtower", layout="wide")
st.title("Drift timeline")


def _load_reports(
    client: ApiClient, max_runs: int
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
    runs = client.all_runs(max_runs=max_runs)
    pairs = []
    for run in runs:
        report = client.drift_report(run["run_id"])
        if report is not None:
            pairs.append((run, report))
    return runs, pairs


def _run_label(frame: pd.DataFrame) -> pd.Series:
    return frame["triggered_at"].dt.strftime("%m-%d %H:%M:%S") + " · " + frame["run_id"].str[:8]


def _dataset_chart(dataset: pd.DataFrame) -> go.Figure:
    dataset = dataset.assign(run=_run_label(dataset))
    figure = go.Figure()
    figure.add_bar(
        x=dataset["run"],
        y=dataset["drift_share"],
        name="drift share",
        marker_color=["#d62728" if drifted else "#1f77b4" for drifted in dataset["drifted"]],
        customdata=dataset[["n_drifted", "n_tested"]],
        hovertemplate="%{y:.0%} of features drifted (%{customdata[0]} of %{customdata[1]})",
    )
    figure.add_scatter(
        x=dataset["run"],
        y=dataset["threshold"],
        name="threshold",
        mode="lines+markers",
        line={"dash": "dash", "color": "black"},
    )
    figure.update_layout(
        yaxis={"title": "share of tested features drifted", "tickformat": ".0%", "range": [0, 1]},
        xaxis={"title": "run"},
        height=360,
        legend={"orientation": "h"},
    )
    return figure


def _feature_chart(features: pd.DataFrame) -> go.Figure:
    features = features.assign(run=_run_label(features))
    figure = go.Figure()
    for name, rows in features.groupby("feature", sort=True):
        figure.add_scatter(
            x=rows["run"],
            y=rows["effect_size"],
            name=str(name),
            mode="lines+markers",
            marker={
                "size": 11,
                "symbol": ["x" if drifted else "circle" for drifted in rows["drifted"]],
            },
            customdata=rows[["method", "p_value", "p_value_threshold", "drifted"]],
            hovertemplate=(
                "PSI %{y:.3f}<br>%{customdata[0]} p-value %{customdata[1]:.3g} "
                "(threshold %{customdata[2]:.3g})<br>drifted: %{customdata[3]}"
            ),
        )
    thresholds = features["effect_threshold"].dropna().unique()
    if len(thresholds) == 1:
        figure.add_hline(
            y=float(thresholds[0]),
            line_dash="dash",
            annotation_text=f"effect threshold {thresholds[0]:g}",
        )
    figure.update_layout(yaxis_title="effect size (PSI)", xaxis_title="run", height=420)
    return figure


def _latest_run_chart(features: pd.DataFrame) -> go.Figure:
    latest = features[features["run_id"] == features["run_id"].iloc[-1]].sort_values("effect_size")
    verdict = latest["drifted"].map({True: "drifted", False: "stable"})
    figure = px.bar(
        latest.assign(verdict=verdict),
        x="effect_size",
        y="feature",
        color="verdict",
        orientation="h",
        color_discrete_map={"drifted": "#d62728", "stable": "#1f77b4"},
        hover_data=["method", "p_value", "p_value_threshold"],
    )
    figure.update_layout(
        xaxis_title="effect size (PSI)", height=max(260, 28 * len(latest)), yaxis_title=""
    )
    return figure


def _show(features: pd.DataFrame, dataset: pd.DataFrame) -> None:
    st.subheader("Dataset drift share against the threshold")
    st.caption("Red bars: the run flagged dataset drift (share at or above the threshold).")
    st.plotly_chart(_dataset_chart(dataset), width="stretch")

    st.subheader("Per-feature effect size across runs")
    names = sorted(features["feature"].dropna().unique())
    ever_drifted = sorted(features.loc[features["drifted"], "feature"].unique())
    chosen = st.multiselect("Features", names, default=ever_drifted[:10] or names[:10])
    selected_features = features[features["feature"].isin(chosen)]
    if selected_features.empty:
        st.info("Pick at least one feature to plot.")
    else:
        st.caption(
            "Crosses mark the runs where the feature drifted (corrected p-value and effect size)."
        )
        st.plotly_chart(_feature_chart(selected_features), width="stretch")

    latest_id = features["run_id"].iloc[-1]
    latest_time = format_time(features["triggered_at"].iloc[-1].isoformat())
    st.subheader(f"Latest run {short_id(latest_id)} ({latest_time}): effect size per feature")
    st.plotly_chart(_latest_run_chart(features), width="stretch")

    with st.expander("Table of per-feature verdicts"):
        st.dataframe(features, hide_index=True)


with api_client() as client:
    if client is not None:
        max_runs = st.sidebar.number_input("Runs to read", min_value=1, max_value=500, value=30)
        try:
            runs, pairs = _load_reports(client, int(max_runs))
        except ApiError as error:
            show_api_error(error)
            st.stop()

        if not runs:
            show_no_runs(client)
        elif not pairs:
            st.info(
                "None of the latest runs has a drift snapshot yet. A run stores one when drift "
                "detection finishes; wait for a running run to get there, then reload."
            )
        else:
            features = drift_feature_frame(pairs)
            dataset = dataset_drift_frame(pairs)
            st.caption(f"{len(pairs)} of the latest {len(runs)} runs have a drift snapshot.")
            _show(features, dataset)
