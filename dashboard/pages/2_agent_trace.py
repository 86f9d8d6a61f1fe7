"""Agent trace: every step of one run in order, followed live while the run is still going.

The run id comes from the `run_id` query parameter (the Runs page links here with it) or from the
run picker. A queued or running run is followed on its server-sent event stream: each new step is
drawn as it arrives, and the page reruns when the `end` event comes.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from dashboard.api_client import ApiClient, ApiError, ApiNotFoundError
from dashboard.common import api_client, format_time, short_id, show_api_error, show_no_runs
from dashboard.trace_view import render_run_header, render_step, render_summary

ACTIVE_STATUSES = ("queued", "running")
PICKER_RUNS = 50
# Wait before rerunning after the stream ended, so a run whose status lags its stream does not
# make the page rerun in a tight loop.
RERUN_PAUSE_SECONDS = 1.0

st.set_page_config(page_title="Agent trace · watchtower", layout="wide")
st.title("Agent trace")


def _pick_run(client: ApiClient) -> str | None:
    """Return the run id from the query string, or from a picker over the latest runs."""
    runs = client.list_runs(limit=PICKER_RUNS).get("items") or []
    requested = st.query_params.get("run_id")
    if not runs and not requested:
        show_no_runs(client)
        return None

    options = [run["run_id"] for run in runs]
    if requested and requested not in options:
        options.insert(0, requested)
    labels = {
        run[
            "run_id"
        ]: f"{short_id(run['run_id'])} · {run.get('status')} · {run.get('decision') or '–'} · "
        f"{format_time(run.get('triggered_at'))}"
        for run in runs
    }
    chosen = st.selectbox(
        "Run",
        options,
        index=options.index(requested) if requested else 0,
        format_func=lambda run_id: labels.get(run_id, run_id),
    )
    if chosen != requested:
        st.query_params["run_id"] = chosen
    return str(chosen)


def _follow_stream(client: ApiClient, run_id: str, last_seq: int | None, timeline: Any) -> None:
    """Draw steps from the run's event stream into `timeline` until the run ends, then rerun."""
    with st.status("Run in progress: following its event stream…", expanded=False) as status:
        try:
            for event in client.stream_steps(run_id, last_event_id=last_seq):
                payload = event.json() if event.data else None
                if event.event == "end":
                    status.update(label="Run ended", state="complete")
                    break
                if isinstance(payload, dict) and "seq" in payload and "kind" in payload:
                    with timeline:
                        render_step(payload)
        except ApiError as error:
            status.update(label="Lost the event stream; reloading", state="error")
            show_api_error(error)
    time.sleep(RERUN_PAUSE_SECONDS)
    st.rerun()


def _show_trace(client: ApiClient, run_id: str) -> None:
    try:
        run = client.get_run(run_id)
    except ApiNotFoundError:
        st.error(
            f"Run `{run_id}` was not found. Pick another run above, or open the Runs page to see "
            "which runs the API has."
        )
        return

    render_run_header(run)
    steps: list[dict[str, Any]] = list(run.get("steps") or [])
    st.subheader(f"Timeline ({len(steps)} steps)")
    timeline = st.container()
    with timeline:
        for step in steps:
            render_step(step)

    if run.get("status") in ACTIVE_STATUSES:
        last_seq = max((int(step["seq"]) for step in steps), default=None)
        _follow_stream(client, run_id, last_seq, timeline)
        return
    render_summary(run)


with api_client() as client:
    if client is not None:
        try:
            selected = _pick_run(client)
            if selected:
                _show_trace(client, selected)
        except ApiError as error:
            show_api_error(error)
