"""`RegistryActions`: the retrain backend, the MLflow registry and the evaluator behind `agent.context.Actions`."""

from __future__ import annotations

import logging
import tempfile
import time
from typing import Any, Protocol

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from agent.context import PromotionResult, RetrainOutcome
from data.base import DataSchema, DataWindows
from evaluation.estimation import estimate_current_performance
from evaluation.evaluator import evaluate_models
from evaluation.metrics import ModelOutput, encode_binary_target, read_model_output
from evaluation.performance import (
    LabelledScores,
    PerformanceResult,
    ReferenceSource,
    check_realised_performance,
    unavailable,
)
from evaluation.summary import EvalReport
from training.config import MLflowRunRef, RetrainingConfig
from training.registry import ModelRegistry, ModelVersionTimeoutError, RegisteredVersion
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

# Seconds between two registry searches while waiting for the job's model version.
VERSION_POLL_SECONDS = 2.0
# The artifact in which the training job logs its validation rows' true values and model output.
VALIDATION_ARTIFACT = "validation/predictions.parquet"


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


def _validation_output(predictions: pd.DataFrame, task_type: str) -> ModelOutput:
    if "score" in predictions.columns:
        return ModelOutput("probabilities", predictions["score"].to_numpy(dtype="float64"))
    if task_type == "regression":
        return ModelOutput("values", predictions["prediction"].to_numpy(dtype="float64"))
    return ModelOutput("labels", predictions["prediction"].to_numpy())


def _labelled_rows(frame: pd.DataFrame, schema: DataSchema) -> pd.DataFrame:
    if not schema.target or schema.target not in frame.columns:
        return frame.iloc[:0]
    return frame.loc[frame[schema.target].notna()]


def _no_labels_message(windows: DataWindows) -> str:
    target = windows.schema.target
    if not target:
        return "the data schema names no target column, so no current row has a label"
    return (
        f"none of the {len(windows.current)} current rows has a value in target column "
        f"{target!r}, so realised performance cannot be measured; use the estimate instead"
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
        # The last model loaded for a performance check, by model URI, so the two tools load it once.
        self._loaded_model: tuple[str, Any] | None = None

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

    # Performance of the champion

    def _predict(self, version: RegisteredVersion, features: pd.DataFrame) -> ModelOutput:
        """Return the version's output on `features`; the loaded model is kept for the next call."""
        cached = self._loaded_model
        if cached is None or cached[0] != version.model_uri:
            with self.registry.pyfunc_loader() as load:
                cached = (version.model_uri, load(version))
            self._loaded_model = cached
        raw = cached[1].predict(features)
        return read_model_output(raw, self.settings.model_task_type, len(features))

    def _validation_predictions(self, version: RegisteredVersion) -> pd.DataFrame | None:
        """Return the validation predictions the training job logged for `version`, or None."""
        if not version.run_id:
            return None
        with tempfile.TemporaryDirectory(prefix="watchtower-validation-") as folder:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=version.run_id,
                    artifact_path=VALIDATION_ARTIFACT,
                    tracking_uri=self.registry.tracking_uri,
                    dst_path=folder,
                )
            except (MlflowException, OSError) as error:
                logger.info(
                    "Model %r version %s has no %s: %s",
                    version.name,
                    version.version,
                    VALIDATION_ARTIFACT,
                    error,
                )
                return None
            return pd.read_parquet(path)

    def _reference_scores(
        self, version: RegisteredVersion, windows: DataWindows
    ) -> tuple[LabelledScores, ReferenceSource]:
        """Return the champion's validation rows, or the scored reference window without them."""
        predictions = self._validation_predictions(version)
        if predictions is not None and len(predictions):
            output = _validation_output(predictions, self.settings.model_task_type)
            return LabelledScores(predictions["y_true"], output), "validation"
        reference = _labelled_rows(windows.reference, windows.schema)
        if reference.empty:
            raise ValueError(
                f"model {version.name!r} version {version.version} has no validation predictions "
                "and the reference window has no labelled row, so there is no reference performance"
            )
        output = self._predict(version, reference[windows.schema.features])
        assert windows.schema.target is not None
        return LabelledScores(reference[windows.schema.target], output), "reference_window"

    def check_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
        """Compare the champion's realised metric on the labelled current rows with its validation rows."""
        champion = self.registry.get_champion(model_name)
        if champion is None:
            return unavailable(
                "realised",
                "no_champion",
                f"model {model_name!r} has no champion alias, so there is no deployed model to check",
                model_name,
            )
        labelled = _labelled_rows(windows.current, windows.schema)
        if labelled.empty:
            return unavailable(
                "realised",
                "no_labels",
                _no_labels_message(windows),
                model_name,
                champion_version=champion.version,
                n_current_rows=len(windows.current),
            )
        assert windows.schema.target is not None
        current = LabelledScores(
            labelled[windows.schema.target],
            self._predict(champion, labelled[windows.schema.features]),
        )
        reference, source = self._reference_scores(champion, windows)
        return check_realised_performance(
            model_name=model_name,
            champion_version=champion.version,
            reference=reference,
            current=current,
            task_type=self.settings.model_task_type,
            primary_metric=self.settings.primary_metric,
            margin=self.settings.performance_drop_margin,
            n_resamples=self.settings.eval_bootstrap_samples,
            confidence_level=self.settings.eval_confidence_level,
            reference_source=source,
            n_current_rows=len(windows.current),
        )

    def estimate_performance(self, model_name: str, windows: DataWindows) -> PerformanceResult:
        """Estimate the champion's metric on the current rows without their labels (CBPE)."""
        if self.settings.model_task_type != "classification":
            return unavailable(
                "estimated",
                "not_supported",
                "performance estimation without labels (CBPE) covers classifiers with probabilities "
                "only, and MODEL_TASK_TYPE is regression",
                model_name,
            )
        champion = self.registry.get_champion(model_name)
        if champion is None:
            return unavailable(
                "estimated",
                "no_champion",
                f"model {model_name!r} has no champion alias, so there is no deployed model to estimate",
                model_name,
            )
        n_labelled = len(_labelled_rows(windows.current, windows.schema))
        if windows.current.empty:
            return unavailable(
                "estimated", "not_supported", "the current window has no rows", model_name
            )
        current = self._predict(champion, windows.current[windows.schema.features])
        reference, source = self._reference_scores(champion, windows)
        if current.basis != "probabilities" or reference.output.basis != "probabilities":
            return unavailable(
                "estimated",
                "not_supported",
                f"champion version {champion.version} returns labels only, and the estimate needs "
                "probabilities of the positive class",
                model_name,
                champion_version=champion.version,
            )
        validation_y = encode_binary_target(reference.y_true).values
        try:
            return estimate_current_performance(
                model_name=model_name,
                champion_version=champion.version,
                validation_y=validation_y,
                validation_scores=reference.output.values,
                current_scores=current.values,
                primary_metric=self.settings.primary_metric,
                margin=self.settings.performance_drop_margin,
                n_resamples=self.settings.eval_bootstrap_samples,
                confidence_level=self.settings.eval_confidence_level,
                reference_source=source,
                n_labelled_rows=n_labelled,
            )
        except ValueError as error:
            # One class in the calibration rows: no calibration, so no estimate.
            return unavailable(
                "estimated",
                "not_supported",
                str(error),
                model_name,
                champion_version=champion.version,
            )


def build_actions(settings: Settings) -> RegistryActions:
    """Build the actions for the configured MLflow store and retrain backend."""
    return RegistryActions(
        settings, ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_registry_uri)
    )
