"""Entry page of the audit dashboard: API health, the latest run, and links to every page.

Start it with `watchtower dashboard`; Streamlit finds the other pages in `dashboard/pages/`.
"""

from __future__ import annotations

import streamlit as st

from dashboard.api_client import ApiError
from dashboard.common import (
    DRIFT_PAGE,
    MODELS_PAGE,
    RUNS_PAGE,
    TRACE_PAGE,
    api_client,
    decision_maker,
    format_time,
    show_api_error,
    show_no_runs,
)

st.set_page_config(page_title="watchtower audit", page_icon=":material/monitoring:", layout="wide")
st.title("watchtower audit dashboard")
st.caption("What the drift agent saw, reasoned and did in each run, read from the watchtower API.")


def _show_health(health: dict) -> None:
    status = str(health.get("status", "unknown"))
    checks = health.get("checks") or {}
    if status == "ok":
        st.success(f"API health: {status}", icon=":material/check_circle:")
    else:
        failing = [
            f"{name}: {check.get('detail', 'no detail')}"
            for name, check in checks.items()
            if not check.get("ok")
        ]
        st.warning(
            f"API health: {status} ({'; '.join(failing) or 'no details'}). Runs and reports "
            "that depend on the failing store may be missing until it is back.",
            icon=":material/warning:",
        )
    with st.expander("Health details"):
        st.json(health)


with api_client() as client:
    if client is not None:
        try:
            _show_health(client.health())
            page = client.list_runs(limit=1)
        except ApiError as error:
            show_api_error(error)
            st.stop()

        latest = (page.get("items") or [None])[0]
        if latest is None:
            show_no_runs(client)
        else:
            st.subheader("Latest run")
            columns = st.columns(4)
            columns[0].metric("Status", latest.get("status", "–"))
            columns[1].metric("Decision", latest.get("decision") or "–")
            columns[2].metric("Decision maker", decision_maker(latest))
            columns[3].metric("Runs stored", page.get("total", "–"))
            st.caption(
                f"Run {latest['run_id']}, triggered {format_time(latest.get('triggered_at'))}"
            )
            st.page_link(
                TRACE_PAGE,
                label="Open its trace",
                icon=":material/timeline:",
                query_params={"run_id": latest["run_id"]},
            )

st.divider()
st.page_link(RUNS_PAGE, label="Runs: history, filters, token usage", icon=":material/list:")
st.page_link(TRACE_PAGE, label="Agent trace: every step of one run", icon=":material/timeline:")
st.page_link(
    DRIFT_PAGE, label="Drift timeline: feature drift across runs", icon=":material/show_chart:"
)
st.page_link(MODELS_PAGE, label="Models: champion against challenger", icon=":material/compare:")
