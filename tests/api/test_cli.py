from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.run_store import RunStore
from agent.steps import Decision, RunStatus, StepKind
from tests.api.apikit import free_port
from watchtower.cli import main
from watchtower.settings import get_settings


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunStore]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("WATCHTOWER_API_TOKEN", raising=False)
    get_settings.cache_clear()
    store = RunStore(url)
    yield store
    store.close()
    get_settings.cache_clear()


def _traced_run(store: RunStore) -> str:
    run = store.create_run(trigger_source="cron", dry_run=False, model_name="churn", request={})
    store.mark_started(run.id)
    store.add_step(run.id, StepKind.LLM_REASONING, text="Age drifted a lot; retraining.")
    store.add_step(run.id, StepKind.TOOL_CALL, tool_name="trigger_retrain", input={"reason": "age"})
    store.add_step(
        run.id, StepKind.TOOL_RESULT, tool_name="trigger_retrain", output={"state": "ok"}
    )
    store.finish_run(run.id, RunStatus.COMPLETED, Decision.PROMOTED, summary="Promoted version 2.")
    return run.id


def test_runs_list_shows_runs(cli_store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _traced_run(cli_store)

    code = main(["runs", "list"])

    output = capsys.readouterr().out
    assert code == 0
    assert run_id in output
    assert "promoted" in output


def test_runs_list_filters_status(cli_store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    _traced_run(cli_store)

    main(["runs", "list", "--status", "failed"])

    assert capsys.readouterr().out.strip() == "No runs with status failed."


def test_runs_show_prints_trace(cli_store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _traced_run(cli_store)

    code = main(["runs", "show", run_id])

    output = capsys.readouterr().out
    reasoning = output.index("Age drifted a lot")
    call = output.index("tool_call trigger_retrain")
    result = output.index("tool_result trigger_retrain")
    assert code == 0
    assert reasoning < call < result
    assert "reason: age" in output
    assert "Promoted version 2." in output


def test_runs_show_unknown_run(cli_store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["runs", "show", "missing"])

    assert code == 1
    assert "run 'missing' not found" in capsys.readouterr().err


def test_serve_starts_api(tmp_path: Path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "DATA_SOURCE": "synthetic",
        "DO_NOT_TRACK": "1",
    }
    environment.pop("WATCHTOWER_API_TOKEN", None)
    command = [sys.executable, "-m", "watchtower.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=environment, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert response.status_code == 200
    assert (tmp_path / "runs.db").exists()
