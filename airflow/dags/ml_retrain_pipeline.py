"""Retrain the monitored model from `dag_run.conf` and register a new version in MLflow.

watchtower triggers this DAG with a `RetrainingConfig` as the run's conf. The task `validate_conf`
checks the conf. The task `train_model` runs the training job `airflow/include/train_job.py` with
the service's interpreter. The job trains on the configured window, logs to MLflow with the
watchtower run id as a tag, and registers a version of the configured model.

The job runs as a subprocess because Airflow 3.3 needs fastapi<0.137 and lives in its own virtual
environment without the service's packages. Environment variables read by the task:

- `WATCHTOWER_PYTHON`: interpreter with the watchtower packages installed (default `python3`);
  `scripts/airflow.sh` sets it to the project's `.venv/bin/python`.
- `WATCHTOWER_TRAIN_TIMEOUT_SECONDS`: how long the job may run before it is stopped (default 3600).
- `WATCHTOWER_TRAIN_JOB`: path of the job (default `include/train_job.py` next to the DAGs folder).
- `WATCHTOWER_WORKDIR`: working directory of the job, where relative paths in the conf resolve
  (default: two folders above this file, which is the repository root for `airflow/dags`). The file imports from `airflow.sdk` on Airflow 3
and falls back to `airflow.decorators` on Airflow 2.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

try:
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context

logger = logging.getLogger(__name__)

DAGS_FOLDER = Path(__file__).resolve().parent
TRAIN_JOB = Path(
    os.environ.get("WATCHTOWER_TRAIN_JOB", DAGS_FOLDER.parent / "include" / "train_job.py")
)
# In this repository the DAG is airflow/dags/ml_retrain_pipeline.py, so the default is the root.
WORKDIR = Path(os.environ.get("WATCHTOWER_WORKDIR", DAGS_FOLDER.parent.parent))
TRAIN_TIMEOUT_SECONDS = float(os.environ.get("WATCHTOWER_TRAIN_TIMEOUT_SECONDS", "3600"))
STDERR_TAIL_LINES = 40

# The keys of `RetrainingConfig` that the job cannot do without, and their JSON types. The job
# validates the whole conf again with the service's own model.
REQUIRED_KEYS: dict[str, type | tuple[type, ...]] = {
    "watchtower_run_id": str,
    "model_name": str,
    "experiment_name": str,
    "mlflow_tracking_uri": str,
    "task_type": str,
    "target": str,
    "features": list,
    "data": dict,
    "holdout_fraction": (int, float),
}
TASK_TYPES = ("classification", "regression")


def conf_problems(conf: dict[str, Any]) -> list[str]:
    """Return what is wrong with a retraining conf, or an empty list when it can be used."""
    problems = []
    for key, expected in REQUIRED_KEYS.items():
        if key not in conf:
            problems.append(f"missing key {key!r}")
        elif not isinstance(conf[key], expected):
            problems.append(f"{key!r} has type {type(conf[key]).__name__}")
    if conf.get("task_type") not in (None, *TASK_TYPES):
        problems.append(f"task_type {conf['task_type']!r} is not one of {list(TASK_TYPES)}")
    if isinstance(conf.get("features"), list) and not conf["features"]:
        problems.append("'features' is empty")
    return problems


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _result_line(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def run_train_job(conf: dict[str, Any]) -> dict[str, Any]:
    """Run the training job on `conf`; raise with the tail of its stderr when it fails."""
    python = os.environ.get("WATCHTOWER_PYTHON", "python3")
    env = {**os.environ, "DO_NOT_TRACK": "1", "MLFLOW_ENABLE_TELEMETRY": "false"}
    with tempfile.TemporaryDirectory(prefix="watchtower-retrain-") as folder:
        conf_path = Path(folder) / "conf.json"
        conf_path.write_text(json.dumps(conf), encoding="utf-8")
        command = [python, str(TRAIN_JOB), "--conf-file", str(conf_path)]
        logger.info("running %s in %s", command, WORKDIR)
        completed = subprocess.run(
            command,
            cwd=WORKDIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=TRAIN_TIMEOUT_SECONDS,
            check=False,
        )
    logger.info("training job output:\n%s", completed.stdout)
    if completed.returncode != 0:
        raise RuntimeError(
            f"training job exited with code {completed.returncode}; last lines of its stderr:\n"
            f"{_tail(completed.stderr, STDERR_TAIL_LINES)}"
        )
    logger.info("training job log:\n%s", _tail(completed.stderr, STDERR_TAIL_LINES))
    return _result_line(completed.stdout)


@dag(
    dag_id="ml_retrain_pipeline",
    schedule=None,
    # timezone.utc rather than datetime.UTC, which Airflow 2 deployments on Python 3.10 lack.
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),  # noqa: UP017
    catchup=False,
    max_active_runs=4,
    tags=["watchtower"],
    doc_md=__doc__,
    default_args={"retries": 0, "execution_timeout": timedelta(seconds=TRAIN_TIMEOUT_SECONDS + 60)},
)
def ml_retrain_pipeline() -> None:
    @task
    def validate_conf() -> dict[str, Any]:
        """Check the run's conf and pass it on."""
        conf = dict(get_current_context()["dag_run"].conf or {})
        problems = conf_problems(conf)
        if problems:
            raise ValueError(
                "invalid dag_run.conf for ml_retrain_pipeline: "
                + "; ".join(problems)
                + ". Trigger the DAG with a RetrainingConfig as the conf."
            )
        logger.info(
            "retraining %s for watchtower run %s", conf["model_name"], conf["watchtower_run_id"]
        )
        return conf

    @task
    def train_model(conf: dict[str, Any]) -> dict[str, Any]:
        """Train, log and register the model; return the job's result line."""
        return run_train_job(conf)

    train_model(validate_conf())


ml_retrain_pipeline()
