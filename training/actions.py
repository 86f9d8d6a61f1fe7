"""`RegistryActions`: the retrain backend, the MLflow registry and the evaluator behind `agent.context.Actions`."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import pandas as pd

from agent.context import PromotionResult, RetrainOutcome
from data.base import DataSchema
from evaluation.evaluator import evaluate_models
from evaluation.summary import EvalReport
from training.config import MLflowRunRef, RetrainingConfig
from training.registry import ModelRegistry, ModelVersionTimeoutError, RegisteredVersion
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

# Seconds between two registry searches while waiting for the job's model version.
VERSION_POLL_SECONDS = 2.0


class RetrainBackend(Protocol):
    """The retrain backend interface of `training.backends`: start a training job, wait for its end."""

    def trigger(self, config: RetrainingConfig) -> Any: ...

    def wait(self, job: Any, timeout_seconds: float) -> Any: ...


def _model_ref(version: RegisteredVersion) -> MLflowRunRef:
    return MLflowRunRef(
        run_id=version.run_id,
        run_url=version.run_url,
        model_name=version.name,
        version=version.version,
        model_uri=version.model_uri,
        status=version.status,
    )


def _failed(job: Any, message: str, started: float) -> RetrainOutcome:
    return RetrainOutcome(
        backend=job.backend,
        external_run_id=job.external_run_id,
        state="failed",
        failed_tasks=list(job.failed_tasks or []),
        message=message,
        duration_seconds=time.monotonic() - started,
    )


class RegistryActions:
    """Retrain through the configured backend, evaluate and promote through MLflow.

    `backend` defaults to `training.backends.get_retrain_backend(settings)`, imported when the first
    retrain starts.
    """

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        backend: RetrainBackend | None = None,
        *,
        version_poll_seconds: float = VERSION_POLL_SECONDS,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self._backend = backend
        self._version_poll_seconds = version_poll_seconds

    def _get_backend(self) -> RetrainBackend:
        if self._backend is None:
            from training.backends import get_retrain_backend

            self._backend = get_retrain_backend(self.settings)
        return self._backend

    def trigger_retrain(self, config: RetrainingConfig) -> RetrainOutcome:
        """Start the training job, wait for it to end and for its model version to be READY.

        A job that fails or times out, and a job whose model version never becomes READY, give a
        `failed` outcome with the reason in `message`. Registry errors are raised.
        """
        backend = self._get_backend()
        started = time.monotonic()
        job = backend.trigger(config)
        logger.info(
            "Retrain job %s started for run %s", job.external_run_id, config.watchtower_run_id
        )

        try:
            job = backend.wait(job, self.settings.retrain_timeout_seconds)
        except TimeoutError as error:
            logger.warning(
                "Retrain job %s for run %s timed out: %s",
                job.external_run_id,
                config.watchtower_run_id,
                error,
            )
            return _failed(job, str(error), started)
        if job.state != "success":
            message = job.message or f"the training job ended in state {job.state}"
            logger.warning(
                "Retrain job %s for run %s failed: %s",
                job.external_run_id,
                config.watchtower_run_id,
                message,
            )
            return _failed(job, message, started)

        try:
            version = self.registry.wait_for_run_version(
                config.model_name,
                config.watchtower_run_id,
                self.settings.model_version_timeout_seconds,
                self._version_poll_seconds,
            )
        except ModelVersionTimeoutError as error:
            logger.warning(
                "Retrain job %s succeeded but registered no READY version: %s",
                job.external_run_id,
                error,
            )
            return _failed(job, f"the training job succeeded, but {error}", started)

        return RetrainOutcome(
            backend=job.backend,
            external_run_id=job.external_run_id,
            state="success",
            model=_model_ref(version),
            message=job.message,
            duration_seconds=time.monotonic() - started,
        )

    def evaluate(
        self,
        run_id: str,
        model_name: str,
        eval_frame: pd.DataFrame,
        schema: DataSchema,
        eval_window: dict[str, Any],
    ) -> EvalReport:
        """Score the READY version tagged with `run_id` against the `champion` alias on `eval_frame`."""
        challenger = self.registry.wait_for_run_version(
            model_name,
            run_id,
            self.settings.model_version_timeout_seconds,
            self._version_poll_seconds,
        )
        champion = self.registry.get_champion(model_name)

        with self.registry.pyfunc_loader() as load:
            return evaluate_models(
                run_id=run_id,
                model_name=model_name,
                challenger=challenger,
                champion=champion,
                eval_frame=eval_frame,
                schema=schema,
                task_type=self.settings.model_task_type,
                primary_metric=self.settings.primary_metric,
                min_improvement=self.settings.eval_min_improvement,
                n_bootstrap=self.settings.eval_bootstrap_samples,
                confidence_level=self.settings.eval_confidence_level,
                eval_window=eval_window,
                load_model=load,
            )

    def promote(self, model_name: str, version: str, run_id: str) -> PromotionResult:
        """Move `champion` to `version`; the old champion keeps `previous-champion`."""
        return self.registry.promote(model_name, version, run_id)


def build_actions(settings: Settings) -> RegistryActions:
    """Build the actions for the configured MLflow store and retrain backend."""
    return RegistryActions(
        settings, ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_registry_uri)
    )
