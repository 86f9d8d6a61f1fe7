"""The configuration the service hands to the external training job, and the reference it gets back.

`RetrainingConfig` becomes the Airflow `dag_run_conf` (or the `--conf` of the local job) as plain JSON.
The job trains on `training_window` only; the service scores champion and challenger on
`evaluation_window`, which is disjoint from it and later in time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from watchtower.settings import TaskType

# Tag the training job sets on its MLflow run and model version, so the service finds the version
# produced for one watchtower run.
RUN_ID_TAG = "watchtower_run_id"


class RetrainingConfig(BaseModel):
    """The configuration of one retraining job, sent as `dag_run_conf`."""

    watchtower_run_id: str = Field(min_length=1)
    dag_id: str
    model_name: str
    experiment_name: str
    mlflow_tracking_uri: str
    task_type: TaskType
    target: str
    features: list[str]
    categorical: list[str] = Field(default_factory=list)
    timestamp: str | None = None
    # The data source spec (`data.spec.DataSpec` as JSON) the job loads its windows from.
    data: dict[str, Any]
    # Share of the current window, the latest rows, held out from training for evaluation.
    holdout_fraction: float = Field(gt=0.0, lt=1.0)
    # Which rows the job trains on and which rows the service evaluates on (bounds and row counts).
    training_window: dict[str, Any] = Field(default_factory=dict)
    evaluation_window: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    seed: int = 0

    def to_conf(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class MLflowRunRef(BaseModel):
    """The MLflow run and registered model version that a retraining job produced."""

    run_id: str | None = None
    run_url: str | None = None
    model_name: str
    version: str | None = None
    model_uri: str | None = None
    status: str | None = None
