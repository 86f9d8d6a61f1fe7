"""Each dashboard page run with Streamlit's AppTest against a real API on 127.0.0.1.

Expected values are read from the API directly (httpx), independently of the dashboard's client.
"""

from __future__ import annotations

import pandas as pd
import pytest
from live_api import (
    API_TOKEN,
    DASHBOARD_DIR,
    SeededApi,
    free_port,
    start_api,
    start_run,
    stop_process,
    wait_for_run,
)
from streamlit.testing.v1 import AppTest

PAGES = [
    "Home.py",
    "pages/1_runs.py",
    "pages/2_agent_trace.py",
    "pages/3_drift_timeline.py",
    "pages/4_models.py",
]
PAGE_TIMEOUT_SECONDS = 120


def open_page(page: str, run_id: str | None = None) -> AppTest:
    """Run one page the way the multipage app does: Home.py is the main script."""
    app = AppTest.from_file(str(DASHBOARD_DIR / "Home.py"), default_timeout=PAGE_TIMEOUT_SECONDS)
    if page != "Home.py":
        app.switch_page(page)
    if run_id is not None:
        app.query_params["run_id"] = run_id
    return app.run()


def texts(app: AppTest) -> str:
    """Every markdown, caption, alert and metric the page drew, as one string."""
    parts = [element.value for element in app.markdown]
    parts += [element.value for element in app.caption]
    parts += [str(element.value) for element in app.error]
    parts += [str(element.value) for element in app.warning]
    parts += [str(element.value) for element in app.info]
    parts += [str(element.value) for element in app.success]
    parts += [f"{metric.label}={metric.value}" for metric in app.metric]
    return "\n".join(parts)


def api_get(seeded: SeededApi, path: str) -> dict:
    with seeded.server.client() as client:
        response = client.get(path)
    response.raise_for_status()
    return dict(response.json())


@pytest.mark.parametrize("page", PAGES)
def test_page_unreachable_api_says_what_to_do(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WATCHTOWER_DASHBOARD_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("WATCHTOWER_API_TOKEN", raising=False)

    app = open_page(page)

    assert not app.exception
    assert "Cannot reach the API" in texts(app)
    assert "watchtower serve" in texts(app)


@pytest.mark.parametrize("page", PAGES)
def test_page_without_runs_says_how_to_start(page, empty_api, dashboard_env):
    dashboard_env(empty_api, None)

    app = open_page(page)

    assert not app.exception
    assert "No runs yet" in texts(app)


@pytest.mark.parametrize("page", PAGES)
def test_page_wrong_token_shows_401_message(page, seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, "not-the-token")

    app = open_page(page)

    assert not app.exception
    assert "rejected the token (401)" in texts(app)
    assert "WATCHTOWER_API_TOKEN" in texts(app)


def test_page_missing_token_asks_for_one(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, None)

    app = open_page("pages/1_runs.py")

    assert not app.exception
    assert "requires a token (401)" in texts(app)


def test_home_shows_latest_run(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)

    app = open_page("Home.py")

    assert not app.exception
    assert f"Status={seeded_api.full_run['status']}" in texts(app)
    assert seeded_api.full_run_id in texts(app)


def test_runs_page_lists_every_run(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)

    app = open_page("pages/1_runs.py")
    table = app.dataframe[0].value

    assert not app.exception
    assert set(table["run_id"]) == {
        seeded_api.dry_run_id,
        seeded_api.first_full_run_id,
        seeded_api.full_run_id,
    }
    dry_row = table[table["run_id"] == seeded_api.dry_run_id].iloc[0]
    assert dry_row["status"] == "completed"
    assert bool(dry_row["dry_run"]) is True
    assert dry_row["trigger"] == "dashboard_test"
    assert dry_row["decision_maker"] == "none (dry run)"


def test_runs_page_shows_decision_maker_and_tokens(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    full = seeded_api.full_run

    app = open_page("pages/1_runs.py")
    row = app.dataframe[0].value.set_index("run_id").loc[seeded_api.full_run_id]

    maker = full["decision_maker"]
    if maker["backend"] is None:
        assert row["decision_maker"] == "–"
    else:
        assert row["decision_maker"].startswith(maker["backend"])
    assert row["decision"] == (full["decision"] or "none")
    assert row["input_tokens"] == full["usage"]["input_tokens"]
    assert row["output_tokens"] == full["usage"]["output_tokens"]


def test_runs_page_filters_by_status(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    history = api_get(seeded_api, "/pipeline/history")["items"]
    completed = {run["run_id"] for run in history if run["status"] == "completed"}
    app = open_page("pages/1_runs.py")

    app.multiselect[0].set_value(["completed"]).run()
    table = app.dataframe[0].value

    assert seeded_api.dry_run_id in completed
    assert set(table["run_id"]) == completed


def test_runs_page_filters_by_decision(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    app = open_page("pages/1_runs.py")

    app.multiselect[1].set_value(["no_action"]).run()
    table = app.dataframe[0].value

    assert seeded_api.dry_run_id in set(table["run_id"])
    assert set(table["decision"]) == {"no_action"}


def test_runs_page_filter_without_match_says_so(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    app = open_page("pages/1_runs.py")

    app.multiselect[0].set_value(["interrupted"]).run()

    assert "No run matches these filters" in texts(app)


def test_trace_page_shows_reasoning_text(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    steps = api_get(seeded_api, f"/pipeline/status/{seeded_api.full_run_id}")["steps"]
    reasoning = [step["text"] for step in steps if step["kind"] == "llm_reasoning"]

    app = open_page("pages/2_agent_trace.py", seeded_api.full_run_id)
    drawn_markdown = [element.value for element in app.markdown]

    assert not app.exception
    assert reasoning, "the full run stored no reasoning step"
    for text in reasoning:
        assert text in drawn_markdown


def test_trace_page_shows_every_step_in_order(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    steps = api_get(seeded_api, f"/pipeline/status/{seeded_api.full_run_id}")["steps"]

    app = open_page("pages/2_agent_trace.py", seeded_api.full_run_id)
    headings = [element.value for element in app.markdown if "**#" in element.value]

    assert [int(h.split("**#")[1].split(" ")[0]) for h in headings] == [s["seq"] for s in steps]


def test_trace_page_names_every_tool(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    steps = api_get(seeded_api, f"/pipeline/status/{seeded_api.full_run_id}")["steps"]
    tools = {step["tool_name"] for step in steps if step["kind"] == "tool_call"}

    app = open_page("pages/2_agent_trace.py", seeded_api.full_run_id)
    headings = "\n".join(element.value for element in app.markdown if "**#" in element.value)

    assert "write_summary" in tools
    for tool in tools:
        assert f"`{tool}`" in headings


def test_trace_page_ends_with_summary(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    summary = seeded_api.full_run["summary"]

    app = open_page("pages/2_agent_trace.py", seeded_api.full_run_id)

    assert summary
    assert app.subheader[-1].value == "Summary"
    assert app.markdown[-1].value == summary


def test_trace_page_dry_run_shows_drift_step(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)

    app = open_page("pages/2_agent_trace.py", seeded_api.dry_run_id)

    assert not app.exception
    assert "`detect_drift`" in texts(app)
    assert "Dry run: drift detection only" in texts(app)


def test_trace_page_unknown_run_says_not_found(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)

    app = open_page("pages/2_agent_trace.py", "no-such-run")

    assert not app.exception
    assert "Run `no-such-run` was not found" in texts(app)


def test_trace_page_without_query_opens_latest_run(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)

    app = open_page("pages/2_agent_trace.py")

    assert app.selectbox[0].value == seeded_api.full_run_id
    assert app.query_params["run_id"] == seeded_api.full_run_id


def test_drift_page_plots_every_run(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    report = api_get(seeded_api, f"/reports/drift/{seeded_api.dry_run_id}")["report"]
    features = {feature["name"] for feature in report["features"]}

    app = open_page("pages/3_drift_timeline.py")
    charts = app.get("plotly_chart")
    table = app.dataframe[0].value

    assert not app.exception
    assert len(charts) == 3
    assert set(table[table["run_id"] == seeded_api.dry_run_id]["feature"]) == features


def test_drift_page_keeps_engine_verdicts(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    report = api_get(seeded_api, f"/reports/drift/{seeded_api.dry_run_id}")["report"]
    expected = {feature["name"]: feature["drifted"] for feature in report["features"]}

    app = open_page("pages/3_drift_timeline.py")
    table = app.dataframe[0].value
    rows = table[table["run_id"] == seeded_api.dry_run_id]

    assert dict(zip(rows["feature"], rows["drifted"], strict=True)) == expected


def test_models_page_compares_champion_and_challenger(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    report = api_get(seeded_api, f"/reports/eval/{seeded_api.full_run_id}")["report"]
    metric = report["primary_metric"]

    app = open_page("pages/4_models.py")
    comparison = app.dataframe[0].value.set_index("run_id").loc[seeded_api.full_run_id]

    assert not app.exception
    assert report["champion"] is not None, "the second full run found no champion"
    assert comparison["metric"] == metric
    assert comparison["champion_version"] == report["champion"]["version"]
    assert comparison["champion_value"] == pytest.approx(report["champion"]["metrics"][metric])
    assert comparison["challenger_value"] == pytest.approx(report["challenger"]["metrics"][metric])
    assert comparison["difference"] == pytest.approx(report["difference"]["difference"])
    assert comparison["ci_low"] == pytest.approx(report["difference"]["ci_low"])
    assert comparison["ci_high"] == pytest.approx(report["difference"]["ci_high"])
    assert len(app.get("plotly_chart")) == 2


def test_models_page_first_run_has_no_champion(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    report = api_get(seeded_api, f"/reports/eval/{seeded_api.first_full_run_id}")["report"]

    app = open_page("pages/4_models.py")
    comparison = app.dataframe[0].value.set_index("run_id").loc[seeded_api.first_full_run_id]

    assert report["champion"] is None
    assert pd.isna(comparison["champion_value"])
    assert "had no champion to compare with" in texts(app)


def _promoted_version(seeded_api: SeededApi, run_id: str) -> str | None:
    steps = api_get(seeded_api, f"/pipeline/status/{run_id}")["steps"]
    for step in steps:
        is_promotion = step["tool_name"] == "promote_model" and step["kind"] == "tool_result"
        if is_promotion and not step["output"]["is_error"]:
            return str(step["output"]["content"]["champion_version"])
    return None


def test_models_page_champion_after_each_run(seeded_api, dashboard_env):
    dashboard_env(seeded_api.server, API_TOKEN)
    first = _promoted_version(seeded_api, seeded_api.first_full_run_id)
    second = _promoted_version(seeded_api, seeded_api.full_run_id)
    second_report = api_get(seeded_api, f"/reports/eval/{seeded_api.full_run_id}")["report"]
    expected_second = second or second_report["champion"]["version"]

    app = open_page("pages/4_models.py")
    history = app.dataframe[-1].value.set_index("run_id")

    assert first == "1"
    assert history.loc[seeded_api.first_full_run_id, "champion_version"] == "1"
    assert history.loc[seeded_api.full_run_id, "champion_version"] == expected_second


def test_trace_page_follows_running_run(tmp_path, dashboard_env):
    # More rows than the other servers, so the run is still going when the page opens: a dry run
    # of 20,000 synthetic rows took several seconds here, the page opens in under one.
    server = start_api(tmp_path / "live_api", token=None, extra_env={"SYNTHETIC_ROWS": "20000"})
    try:
        dashboard_env(server, None)
        run_id = start_run(server, dry_run=True)

        app = open_page("pages/2_agent_trace.py", run_id)
        finished = wait_for_run(server, run_id)
        access_log = server.log_path.read_text()

        assert not app.exception
        assert f"GET /pipeline/status/{run_id}/stream" in access_log
        assert f"Status={finished['status']}" in texts(app)
        assert "`detect_drift`" in texts(app)
        assert "Dry run: drift detection only" in texts(app)
    finally:
        stop_process(server.process)
