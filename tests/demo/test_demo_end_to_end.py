"""The demo end to end, as a newcomer runs it: real flight and census data, local stores, rules.

One module-scoped run of `watchtower demo` (a few minutes on 2 cores); the tests read what it
printed, what it stored, and what the API returns for its runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.run_store import RunRecord, RunStore
from api.main import create_app
from watchtower.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
WATCHTOWER = Path(sys.executable).parent / "watchtower"

pytestmark = pytest.mark.slow


@dataclass
class DemoResult:
    output: str
    returncode: int
    folder: Path
    runs: dict[str, RunRecord]
    store: RunStore


def _demo_environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ANTHROPIC_", "DATA_", "MLFLOW_", "RETRAIN_", "AGENT_"))
        and name != "DATABASE_URL"
    }
    env["DO_NOT_TRACK"] = "1"
    env["MLFLOW_ENABLE_TELEMETRY"] = "false"
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    folder = tmp_path_factory.mktemp("demo")
    completed = subprocess.run(
        [str(WATCHTOWER), "demo", "--folder", str(folder)],
        cwd=folder,
        env=_demo_environment(),
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    store = RunStore(f"sqlite:///{folder / 'runs.db'}")
    runs, _total = store.list_runs(limit=10)
    by_model = {run.model_name: run for run in runs}
    yield DemoResult(
        completed.stdout + completed.stderr, completed.returncode, folder, by_model, store
    )
    store.close()


def test_demo_exits_zero(demo: DemoResult) -> None:
    assert demo.returncode == 0, demo.output[-3000:]


def test_demo_main_run_promotes(demo: DemoResult) -> None:
    main = demo.runs["flight-delays"]

    assert main.status.value == "completed"
    assert main.decision is not None and main.decision.value == "promoted"


def test_demo_main_run_prints_gain_and_interval(demo: DemoResult) -> None:
    assert "Main run: completed, decision promoted" in demo.output
    assert "roc_auc: champion" in demo.output
    assert "95% CI" in demo.output


def test_demo_main_run_trace_order(demo: DemoResult) -> None:
    steps = demo.store.list_steps(demo.runs["flight-delays"].id)
    calls = [step.tool_name for step in steps if step.kind.value == "tool_call"]

    assert calls.index("trigger_retrain") < calls.index("evaluate_model")
    assert calls.index("evaluate_model") < calls.index("promote_model")
    assert calls[-1] == "write_summary"
    assert "check_model_performance" in calls


def test_demo_main_run_eval_recommends(demo: DemoResult) -> None:
    report = demo.store.get_eval_report(demo.runs["flight-delays"].id)

    assert report is not None
    assert report["recommend_promotion"] is True
    assert report["difference"]["ci_low"] > 0


def test_demo_weather_features_drift_on_top(demo: DemoResult) -> None:
    snapshot = demo.store.get_drift_snapshot(demo.runs["flight-delays"].id)

    assert snapshot is not None
    assert snapshot["dataset"]["drifted"] is True
    assert snapshot["top_drifted"][0] in {"temp", "dewp", "humid", "pressure", "wind_gust"}


def test_demo_control_run_does_not_retrain(demo: DemoResult) -> None:
    control = demo.runs["census-employment"]
    calls = [
        step.tool_name
        for step in demo.store.list_steps(control.id)
        if step.kind.value == "tool_call"
    ]

    assert control.decision is not None and control.decision.value == "no_action"
    assert "trigger_retrain" not in calls
    assert control.summary is not None and "Neither dataset nor target drift" in control.summary


def test_demo_status_endpoint_returns_trace(demo: DemoResult) -> None:
    settings = Settings(
        database_url=f"sqlite:///{demo.folder / 'runs.db'}",
        mlflow_tracking_uri=f"sqlite:///{demo.folder / 'mlflow.db'}",
    )
    run_id = demo.runs["flight-delays"].id
    with TestClient(create_app(settings)) as client:
        status = client.get(f"/pipeline/status/{run_id}").json()
        drift = client.get(f"/reports/drift/{run_id}")
        evaluation = client.get(f"/reports/eval/{run_id}")

    kinds = [step["kind"] for step in status["steps"]]
    assert "llm_reasoning" in kinds
    assert [step["seq"] for step in status["steps"]] == sorted(
        step["seq"] for step in status["steps"]
    )
    assert drift.status_code == 200
    assert evaluation.status_code == 200
