"""Retrain backends: where the training job runs.

`AirflowBackend` triggers the DAG named in the `RetrainingConfig`, such as the example DAG
`ml_retrain_pipeline` that runs the training job. `LocalBackend` runs the same training job
(`airflow/include/train_job.py`) as a subprocess of this interpreter with the same conf. Both are
idempotent per watchtower run id: a second trigger for the same run follows or reuses the first job
instead of training again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from training.airflow_client import AirflowClient, DagRun
from training.config import RetrainingConfig
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

RetrainState = Literal["queued", "running", "success", "failed"]

# The training job lives next to the example DAG and is run as a script, never imported.
TRAIN_JOB_PATH = Path(__file__).resolve().parent.parent / "airflow" / "include" / "train_job.py"
# Characters Airflow accepts in a run id by default (`[scheduler] allowed_run_id_pattern`).
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]")
# How much of a failed local job's stderr goes into the job message.
STDERR_TAIL_LINES = 30


class RetrainTimeoutError(TimeoutError):
    """Raised when a retraining job has not finished within the timeout."""


@dataclass
class RetrainJob:
    """One retraining job as the service follows it."""

    backend: Literal["airflow", "local"]
    external_run_id: str
    state: RetrainState
    url: str | None = None
    failed_tasks: list[str] = field(default_factory=list)
    message: str = ""
    watchtower_run_id: str = ""
    dag_id: str | None = None
    # The training job's result line (MLflow run id, model version), when the backend can read it.
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in ("success", "failed")


class RetrainBackend(Protocol):
    def trigger(self, config: RetrainingConfig) -> RetrainJob: ...

    def wait(self, job: RetrainJob, timeout_seconds: float) -> RetrainJob: ...


def dag_run_id_for(watchtower_run_id: str) -> str:
    """Derive the Airflow DAG run id from the watchtower run id, so a retry reuses the same run."""
    return "watchtower__" + _RUN_ID_UNSAFE.sub("-", watchtower_run_id)


def _retrain_state(airflow_state: str) -> RetrainState:
    if airflow_state in ("queued", "success", "failed"):
        return airflow_state  # type: ignore[return-value]
    return "running"


class AirflowBackend:
    """Trigger the configured DAG on Airflow and follow its run."""

    def __init__(self, client: AirflowClient) -> None:
        self.client = client

    def _job(self, dag_run: DagRun, watchtower_run_id: str, message: str) -> RetrainJob:
        return RetrainJob(
            backend="airflow",
            external_run_id=dag_run.dag_run_id,
            state=_retrain_state(dag_run.state),
            url=dag_run.url,
            failed_tasks=list(dag_run.failed_tasks),
            message=message,
            watchtower_run_id=watchtower_run_id,
            dag_id=dag_run.dag_id,
        )

    def trigger(self, config: RetrainingConfig) -> RetrainJob:
        dag_run_id = dag_run_id_for(config.watchtower_run_id)
        dag_run = self.client.trigger_dag_run(config.dag_id, dag_run_id, config.to_conf())
        if dag_run.created:
            message = f"triggered DAG run {dag_run_id} of {config.dag_id}"
        else:
            message = f"DAG run {dag_run_id} of {config.dag_id} already existed; following it"
        return self._job(dag_run, config.watchtower_run_id, message)

    def wait(self, job: RetrainJob, timeout_seconds: float) -> RetrainJob:
        """Poll the DAG run to its end; raises `DagRunTimeoutError` (a `TimeoutError`) on timeout."""
        if job.dag_id is None:
            raise ValueError(
                f"job {job.external_run_id!r} has no dag_id; pass a job from trigger()"
            )
        dag_run = self.client.wait_for_dag_run(job.dag_id, job.external_run_id, timeout_seconds)
        if dag_run.state == "failed":
            tasks = ", ".join(dag_run.failed_tasks) or "none reported"
            message = (
                f"DAG run {dag_run.dag_run_id} of {dag_run.dag_id} failed; failed tasks: {tasks}"
            )
        else:
            message = (
                f"DAG run {dag_run.dag_run_id} of {dag_run.dag_id} ended in state {dag_run.state}"
            )
        return self._job(dag_run, job.watchtower_run_id, message)


@dataclass
class _LocalProcess:
    process: subprocess.Popen[bytes]
    folder: Path
    started: float


def _tail(path: Path, lines: int) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _result_line(stdout: str) -> dict[str, Any]:
    """Return the last line of the job's output that parses as a JSON object, or {}."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return {}


class LocalBackend:
    """Run the training job as a subprocess of the service's interpreter.

    Parameters
    ----------
    python
        Interpreter that runs the job; it must have this project's packages (default: this one).
    job_path
        The training job script (default: `airflow/include/train_job.py` of this checkout).
    """

    def __init__(self, python: str | None = None, job_path: Path | None = None) -> None:
        self.python = python or sys.executable
        self.job_path = job_path or TRAIN_JOB_PATH
        self._lock = threading.Lock()
        self._running: dict[str, _LocalProcess] = {}
        self._succeeded: dict[str, RetrainJob] = {}

    def trigger(self, config: RetrainingConfig) -> RetrainJob:
        run_id = config.watchtower_run_id
        external_run_id = f"local__{run_id}"
        with self._lock:
            if run_id in self._succeeded:
                logger.info("run %s already has a successful local retrain; reusing it", run_id)
                return replace(
                    self._succeeded[run_id], message="reused the earlier successful retrain"
                )
            if external_run_id in self._running:
                logger.info("run %s already has a local retrain running; following it", run_id)
                return self._pending_job(
                    config, external_run_id, "following the running local retrain"
                )
            self._running[external_run_id] = self._start(config)
        return self._pending_job(config, external_run_id, f"started {self.job_path.name}")

    def _pending_job(
        self, config: RetrainingConfig, external_run_id: str, message: str
    ) -> RetrainJob:
        return RetrainJob(
            backend="local",
            external_run_id=external_run_id,
            state="running",
            message=message,
            watchtower_run_id=config.watchtower_run_id,
        )

    def _start(self, config: RetrainingConfig) -> _LocalProcess:
        folder = Path(tempfile.mkdtemp(prefix="watchtower-retrain-"))
        conf_path = folder / "conf.json"
        conf_path.write_text(json.dumps(config.to_conf()), encoding="utf-8")
        env = {**os.environ, "DO_NOT_TRACK": "1", "MLFLOW_ENABLE_TELEMETRY": "false"}
        command = [self.python, str(self.job_path), "--conf-file", str(conf_path)]
        with (
            open(folder / "stdout.log", "wb") as stdout,
            open(folder / "stderr.log", "wb") as stderr,
        ):
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
        logger.info(
            "started local retrain for run %s: pid %s, %s",
            config.watchtower_run_id,
            process.pid,
            command,
        )
        return _LocalProcess(process=process, folder=folder, started=time.monotonic())

    def wait(self, job: RetrainJob, timeout_seconds: float) -> RetrainJob:
        """Wait for the job's process; raises `RetrainTimeoutError` after stopping it on timeout."""
        if job.finished:
            return job
        with self._lock:
            local = self._running.get(job.external_run_id)
            succeeded = self._succeeded.get(job.watchtower_run_id)
        if local is None and succeeded is not None:
            return succeeded
        if local is None:
            raise ValueError(f"no local retrain {job.external_run_id!r} is running in this process")
        try:
            return_code = local.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            local.process.kill()
            local.process.wait()
            stderr = _tail(local.folder / "stderr.log", STDERR_TAIL_LINES)
            self._forget(job.external_run_id)
            raise RetrainTimeoutError(
                f"local retrain {job.external_run_id} did not finish within {timeout_seconds:g} s and "
                f"was stopped; raise RETRAIN_TIMEOUT_SECONDS. Last output:\n{stderr}"
            ) from None
        finished = self._finished_job(job, local, return_code)
        self._forget(job.external_run_id)
        if finished.state == "success":
            with self._lock:
                self._succeeded[job.watchtower_run_id] = finished
        return finished

    def _finished_job(self, job: RetrainJob, local: _LocalProcess, return_code: int) -> RetrainJob:
        seconds = time.monotonic() - local.started
        if return_code != 0:
            stderr = _tail(local.folder / "stderr.log", STDERR_TAIL_LINES)
            logger.warning(
                "local retrain %s failed with exit code %s", job.external_run_id, return_code
            )
            return replace(
                job,
                state="failed",
                failed_tasks=["train_job"],
                message=f"training job exited with code {return_code} after {seconds:.1f} s:\n{stderr}",
            )
        result = _result_line(
            (local.folder / "stdout.log").read_text(encoding="utf-8", errors="replace")
        )
        logger.info(
            "local retrain %s succeeded in %.1f s: %s", job.external_run_id, seconds, result
        )
        message = (
            f"registered version {result.get('version')} of {result.get('model_name')} "
            f"(MLflow run {result.get('mlflow_run_id')}) in {seconds:.1f} s"
        )
        return replace(job, state="success", message=message, result=result)

    def _forget(self, external_run_id: str) -> None:
        with self._lock:
            local = self._running.pop(external_run_id, None)
        if local is not None:
            shutil.rmtree(local.folder, ignore_errors=True)


@lru_cache(maxsize=1)
def _shared_local_backend() -> LocalBackend:
    return LocalBackend()


def get_retrain_backend(settings: Settings) -> AirflowBackend | LocalBackend:
    """Return the backend that `RETRAIN_BACKEND` selects.

    The local backend is shared by the whole process, so a repeated trigger for a run finds the job
    that an earlier call started.
    """
    if settings.retrain_backend == "local":
        return _shared_local_backend()
    return AirflowBackend(AirflowClient.from_settings(settings))
