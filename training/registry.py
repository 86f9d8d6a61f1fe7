"""The MLflow model registry as the service uses it: find, wait for, promote and roll back versions.

The champion is found only through the `champion` alias (`get_model_version_by_alias`), because
`search_model_versions` may return versions with an empty `aliases` list even when an alias is set.
The challenger of a watchtower run is the READY version tagged with `RUN_ID_TAG` = that run's id.
Transient store errors (a locked SQLite store, a refused connection) are retried with exponential
backoff and then raised as `RegistryError`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    ErrorCode,
)

from agent.context import PromotionResult
from training.config import RUN_ID_TAG

logger = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
PREVIOUS_CHAMPION_ALIAS = "previous-champion"
# Tag set on a version when it becomes champion: the watchtower run id that promoted it.
PROMOTED_BY_TAG = "watchtower_promoted_by_run_id"
# MLflow's own HTTP retries default to 7 with a doubling backoff and a 120 s timeout, which takes
# about four minutes per call against a server that is down. This class retries transient errors
# itself, so with those defaults an unreachable server would hold a run for a quarter of an hour.
# These values apply unless the environment sets the variables.
MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

READY = "READY"
FAILED_REGISTRATION = "FAILED_REGISTRATION"

T = TypeVar("T")


class RegistryError(RuntimeError):
    """Raised when the registry cannot do what was requested; the message names the model and versions."""


class ModelVersionTimeoutError(RegistryError, TimeoutError):
    """Raised when no READY version tagged with a run id appeared in time."""


@dataclass
class RegisteredVersion:
    """One version of a registered model, with the MLflow run that logged it."""

    name: str
    version: str
    model_uri: str
    run_id: str | None
    run_url: str | None
    tags: dict[str, str] = field(default_factory=dict)
    status: str = READY


@dataclass
class RollbackResult:
    """The versions behind the `champion` and `previous-champion` aliases after a rollback."""

    model_name: str
    champion_version: str
    # The version that was champion before the rollback and now has `previous-champion`, or None.
    previous_champion_version: str | None


def redact_uri(uri: str) -> str:
    """Return `uri` without a password, so that store URIs can be logged and shown in errors."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def _error_code(error: MlflowException) -> str:
    return str(getattr(error, "error_code", ""))


def _code_name(code: int) -> str:
    return str(ErrorCode.Name(code))


_TRANSIENT_CODES = {_code_name(TEMPORARILY_UNAVAILABLE), _code_name(REQUEST_LIMIT_EXCEEDED)}
_TRANSIENT_MESSAGES = (
    "database is locked",
    "connection refused",
    "max retries exceeded",
    "timed out",
)
_NOT_FOUND_CODES = {_code_name(RESOURCE_DOES_NOT_EXIST), _code_name(INVALID_PARAMETER_VALUE)}


def is_transient(error: Exception) -> bool:
    """Tell whether a store error may go away on a retry (lock, overload, network)."""
    if isinstance(
        error, (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout)
    ):
        return True
    if not isinstance(error, MlflowException):
        return False
    message = str(error).lower()
    return _error_code(error) in _TRANSIENT_CODES or any(
        text in message for text in _TRANSIENT_MESSAGES
    )


def _is_not_found(error: MlflowException) -> bool:
    # A missing model is RESOURCE_DOES_NOT_EXIST; a missing alias is INVALID_PARAMETER_VALUE with
    # "not found" in the message (MLflow 3.17 SQL store).
    code = _error_code(error)
    return code in _NOT_FOUND_CODES and (
        code == _code_name(RESOURCE_DOES_NOT_EXIST) or "not found" in str(error).lower()
    )


def _quote_filter_value(value: str, what: str) -> str:
    if "'" in value:
        raise ValueError(
            f"{what} {value!r} contains a single quote, which MLflow search filters cannot express"
        )
    return f"'{value}'"


def _version_number(version: ModelVersion) -> int:
    return int(version.version)


class ModelRegistry:
    """The service's view of the MLflow model registry for one tracking URI.

    Parameters
    ----------
    tracking_uri : MLflow tracking URI (an http(s) server or a `sqlite:///` store).
    registry_uri : registry URI when it differs from the tracking URI.
    max_attempts : attempts per store call before a transient error is raised.
    backoff_seconds : wait before the first retry; it doubles on each further retry.
    """

    def __init__(
        self,
        tracking_uri: str,
        registry_uri: str | None = None,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        for name, value in MLFLOW_HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=self.registry_uri)
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep

    # Store calls with retries

    def _call(self, action: str, function: Callable[..., T], *args: Any) -> T:
        """Run one store call, retrying transient errors with exponential backoff."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                return function(*args)
            except Exception as error:
                if not is_transient(error):
                    raise
                if attempt == self._max_attempts:
                    raise RegistryError(
                        f"MLflow store {redact_uri(self.registry_uri)} failed {attempt} times while "
                        f"{action}: {self._describe(error)}. Check that the store is reachable and not "
                        "locked by another process, then retry"
                    ) from error
                delay = self._backoff_seconds * 2 ** (attempt - 1)
                logger.warning(
                    "MLflow store error while %s (attempt %s of %s), retrying in %.1f s: %s",
                    action,
                    attempt,
                    self._max_attempts,
                    delay,
                    self._describe(error),
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _describe(self, error: BaseException) -> str:
        """Return the error's first line with any password in the store URIs masked."""
        text = _first_line(error)
        for uri in {self.tracking_uri, self.registry_uri}:
            text = text.replace(uri, redact_uri(uri))
        return text

    def _get_by_alias(self, model_name: str, alias: str) -> ModelVersion | None:
        try:
            return self._call(
                f"reading alias {alias!r} of model {model_name!r}",
                self.client.get_model_version_by_alias,
                model_name,
                alias,
            )
        except MlflowException as error:
            if _is_not_found(error):
                return None
            raise

    # Reading versions

    def _run_url(self, run_id: str | None) -> str | None:
        if not run_id or urlsplit(self.tracking_uri).scheme not in {"http", "https"}:
            return None
        run = self._call(f"reading run {run_id}", self.client.get_run, run_id)
        base = redact_uri(self.tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{run.info.experiment_id}/runs/{run_id}"

    def _to_registered(self, version: ModelVersion) -> RegisteredVersion:
        return RegisteredVersion(
            name=version.name,
            version=str(version.version),
            model_uri=f"models:/{version.name}/{version.version}",
            run_id=version.run_id,
            run_url=self._run_url(version.run_id),
            tags=dict(version.tags or {}),
            status=str(version.status),
        )

    def get_version(self, model_name: str, version: str) -> RegisteredVersion:
        """Return one version, or raise RegistryError when the model or version does not exist."""
        try:
            found = self._call(
                f"reading version {version} of model {model_name!r}",
                self.client.get_model_version,
                model_name,
                version,
            )
        except MlflowException as error:
            if _is_not_found(error):
                raise RegistryError(f"model {model_name!r} has no version {version!r}") from error
            raise
        return self._to_registered(found)

    def _get_alias_version(self, model_name: str, alias: str) -> RegisteredVersion | None:
        found = self._get_by_alias(model_name, alias)
        if found is None:
            return None
        if found.status != READY:
            logger.warning(
                "Alias %r of model %r points to version %s with status %s; treating it as unset",
                alias,
                model_name,
                found.version,
                found.status,
            )
            return None
        return self._to_registered(found)

    def get_champion(self, model_name: str) -> RegisteredVersion | None:
        """Return the version behind the `champion` alias, or None.

        None when the model does not exist, has no `champion` alias, or the alias points to a
        version that was deleted or is not READY.
        """
        return self._get_alias_version(model_name, CHAMPION_ALIAS)

    def get_previous_champion(self, model_name: str) -> RegisteredVersion | None:
        """Return the version behind the `previous-champion` alias, or None (same rules as the champion)."""
        return self._get_alias_version(model_name, PREVIOUS_CHAMPION_ALIAS)

    def find_run_versions(self, model_name: str, watchtower_run_id: str) -> list[ModelVersion]:
        """Return the versions of `model_name` tagged with `watchtower_run_id`, newest first."""
        query = (
            f"name = {_quote_filter_value(model_name, 'model name')} and "
            f"tags.{RUN_ID_TAG} = {_quote_filter_value(watchtower_run_id, 'run id')}"
        )
        versions = self._call(
            f"searching versions of model {model_name!r} for run {watchtower_run_id}",
            self.client.search_model_versions,
            query,
        )
        return sorted(versions, key=_version_number, reverse=True)

    def wait_for_run_version(
        self,
        model_name: str,
        watchtower_run_id: str,
        timeout_seconds: float,
        poll_seconds: float = 2.0,
    ) -> RegisteredVersion:
        """Wait until a version tagged with `watchtower_run_id` is READY and return the newest such version.

        Raises
        ------
        ModelVersionTimeoutError
            When no tagged version is READY within `timeout_seconds`; the message lists the statuses
            seen.
        RegistryError
            When every tagged version failed registration.
        """
        deadline = time.monotonic() + timeout_seconds
        seen: list[str] = []
        while True:
            versions = self.find_run_versions(model_name, watchtower_run_id)
            ready = [version for version in versions if version.status == READY]
            if ready:
                logger.info(
                    "Model %r version %s for run %s is READY",
                    model_name,
                    ready[0].version,
                    watchtower_run_id,
                )
                return self._to_registered(ready[0])

            statuses = [f"version {version.version}: {version.status}" for version in versions]
            seen = statuses or ["no version tagged yet"]
            if versions and all(version.status == FAILED_REGISTRATION for version in versions):
                raise RegistryError(
                    f"every version of model {model_name!r} tagged {RUN_ID_TAG}={watchtower_run_id} failed "
                    f"registration ({', '.join(statuses)}); check the training job's MLflow logs"
                )
            if time.monotonic() >= deadline:
                raise ModelVersionTimeoutError(
                    f"no READY version of model {model_name!r} tagged {RUN_ID_TAG}={watchtower_run_id} "
                    f"after {timeout_seconds:g} s (seen: {'; '.join(seen)}); check that the training job "
                    "registered the model with that tag, or raise MODEL_VERSION_TIMEOUT_SECONDS"
                )
            self._sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))

    # Changing aliases

    def _set_alias(self, model_name: str, alias: str, version: str) -> None:
        self._call(
            f"setting alias {alias!r} of model {model_name!r} to version {version}",
            self.client.set_registered_model_alias,
            model_name,
            alias,
            version,
        )

    def _delete_alias(self, model_name: str, alias: str) -> None:
        self._call(
            f"deleting alias {alias!r} of model {model_name!r}",
            self.client.delete_registered_model_alias,
            model_name,
            alias,
        )

    def promote(self, model_name: str, version: str, watchtower_run_id: str) -> PromotionResult:
        """Move `champion` to `version`; the old champion gets `previous-champion`.

        The promoted version is tagged `PROMOTED_BY_TAG` = `watchtower_run_id`. Promoting the current
        champion again only sets the tag, so a retried promotion changes nothing else.

        Raises
        ------
        RegistryError
            When the version does not exist or is not READY.
        """
        target = self.get_version(model_name, version)
        if target.status != READY:
            raise RegistryError(
                f"model {model_name!r} version {version} has status {target.status}; only a READY "
                "version can become champion"
            )

        current = self.get_champion(model_name)
        if current is not None and current.version == target.version:
            previous = self.get_previous_champion(model_name)
            self._tag_promotion(model_name, target.version, watchtower_run_id)
            logger.info("Model %r version %s is already champion", model_name, target.version)
            return PromotionResult(
                model_name, target.version, previous.version if previous else None
            )

        # The old champion keeps an alias before `champion` moves, so a failure between the two
        # calls never leaves the old version without one.
        if current is not None:
            self._set_alias(model_name, PREVIOUS_CHAMPION_ALIAS, current.version)
        self._set_alias(model_name, CHAMPION_ALIAS, target.version)
        self._tag_promotion(model_name, target.version, watchtower_run_id)

        previous_version = current.version if current is not None else None
        logger.info(
            "Promoted model %r version %s to champion for run %s (previous champion: %s)",
            model_name,
            target.version,
            watchtower_run_id,
            previous_version,
        )
        return PromotionResult(model_name, target.version, previous_version)

    def _tag_promotion(self, model_name: str, version: str, watchtower_run_id: str) -> None:
        self._call(
            f"tagging model {model_name!r} version {version}",
            self.client.set_model_version_tag,
            model_name,
            version,
            PROMOTED_BY_TAG,
            watchtower_run_id,
        )

    def rollback(self, model_name: str) -> RollbackResult:
        """Move `champion` back to the `previous-champion` version, and `previous-champion` to the old champion.

        Without a current champion, `champion` moves to the previous champion and the
        `previous-champion` alias is removed.

        Raises
        ------
        RegistryError
            When the model has no usable `previous-champion` version to roll back to.
        """
        previous = self.get_previous_champion(model_name)
        if previous is None:
            raise RegistryError(
                f"model {model_name!r} has no READY version with alias {PREVIOUS_CHAMPION_ALIAS!r}, so "
                "there is nothing to roll back to; set the champion alias by hand in MLflow"
            )
        current = self.get_champion(model_name)

        self._set_alias(model_name, CHAMPION_ALIAS, previous.version)
        if current is not None:
            self._set_alias(model_name, PREVIOUS_CHAMPION_ALIAS, current.version)
        else:
            self._delete_alias(model_name, PREVIOUS_CHAMPION_ALIAS)

        old_version = current.version if current is not None else None
        logger.info(
            "Rolled back model %r: champion %s -> %s", model_name, old_version, previous.version
        )
        return RollbackResult(model_name, previous.version, old_version)

    # Loading models

    @contextmanager
    def pyfunc_loader(self) -> Iterator[Callable[[RegisteredVersion], Any]]:
        """Yield a function that loads a version as a pyfunc model from this registry.

        The artifacts are downloaded into a temporary folder that lives until the context ends,
        through this registry's URIs, so the process-wide MLflow URIs are neither read nor changed.
        """
        with tempfile.TemporaryDirectory(prefix="watchtower-models-") as folder:

            def load(version: RegisteredVersion) -> Any:
                source = self._call(
                    f"locating the artifacts of model {version.name!r} version {version.version}",
                    self.client.get_model_version_download_uri,
                    version.name,
                    version.version,
                )
                destination = tempfile.mkdtemp(prefix=f"v{version.version}-", dir=folder)
                local_path = self._call(
                    f"downloading model {version.name!r} version {version.version}",
                    _download_artifacts,
                    source,
                    self.tracking_uri,
                    destination,
                )
                return mlflow.pyfunc.load_model(local_path)

            yield load


def _download_artifacts(source: str, tracking_uri: str, destination: str) -> str:
    return str(
        mlflow.artifacts.download_artifacts(
            artifact_uri=source, tracking_uri=tracking_uri, dst_path=destination
        )
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
