"""The retraining job: train a model on the configured window and register it in MLflow.

The example DAG `ml_retrain_pipeline` and the local retrain backend both run this file as a
subprocess of the service's interpreter, with a `RetrainingConfig` as JSON:

    python airflow/include/train_job.py --conf-file conf.json
    python airflow/include/train_job.py --conf-json '{"watchtower_run_id": "...", ...}'

The job loads the windows with `data.spec`, splits them with `data.spec.split_for_retraining` exactly
as the service does, and trains on the training rows only, so the service can score the model on the
held-out evaluation rows. Within those rows it holds out the rows of a seeded random
`VALIDATION_FRACTION` of the days as validation rows it does not fit on. It logs params, training
and validation metrics to MLflow, and the validation rows' true values and model output as the
artifact `validation/predictions.parquet`, which the service reads as the model's reference
performance and to calibrate its performance estimates. It tags the run and the registered model
version with `watchtower_run_id`, and prints one JSON line with the MLflow run id and the version as
its last line of output.

First champion: with `--bootstrap-champion` (or `"bootstrap_champion": true` in the conf) the job
trains on the reference window alone, which stands for the model already in production before the
current window. The job never moves an alias; the caller sets `champion` on the printed version.

The service never imports this file: it runs in the job's process only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

# Set before mlflow and evidently are imported, so neither sends usage data.
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

logger = logging.getLogger("watchtower.train_job")

RUN_ID_TAG = "watchtower_run_id"
# Categories seen fewer times than this, or beyond the most frequent MAX_CATEGORIES, share one
# "infrequent" column, so a high-cardinality column stays a few dozen dense columns wide.
MIN_CATEGORY_COUNT = 5
MAX_CATEGORIES = 32
# MLflow 3.17 saves scikit-learn models with skops, which loads only types it trusts. The tree
# predictor of histogram gradient boosting is not trusted by default; MLflow stores this list in the
# model's MLmodel file and passes it to skops when the service loads the model.
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
# Share of the training rows held out as validation rows: all rows of randomly chosen days (see
# `split_validation`). A model scores much higher on rows it was fitted on, so its reference
# performance is measured on these instead.
VALIDATION_FRACTION = 0.2
# Fewer distinct days than this, and the validation rows are drawn as single rows instead of days.
MIN_VALIDATION_DAYS = 5
# MLflow artifact path of the validation rows' true values and model output.
VALIDATION_ARTIFACT_DIR = "validation"
VALIDATION_ARTIFACT_FILE = "predictions.parquet"


class TrainJobError(RuntimeError):
    """Raised when the conf or the training data cannot be used; the message states what to fix."""


def build_model(
    features: list[str], categorical: list[str], task_type: str, seed: int = 0
) -> Pipeline:
    """Build the unfitted scikit-learn pipeline the job trains.

    Categorical columns are one-hot encoded. Missing values become their own category, and unseen
    categories at prediction time map to zeros or to the infrequent column. The other features pass
    through unchanged, because histogram gradient boosting handles missing numeric values itself.
    """
    categorical_features = [name for name in features if name in set(categorical)]
    numeric_features = [name for name in features if name not in set(categorical)]
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=MIN_CATEGORY_COUNT,
        max_categories=MAX_CATEGORIES,
        sparse_output=False,
    )
    preprocess = ColumnTransformer(
        [
            ("categorical", encoder, categorical_features),
            ("numeric", "passthrough", numeric_features),
        ],
        remainder="drop",
    )
    if task_type == "classification":
        estimator: Any = HistGradientBoostingClassifier(random_state=seed)
    elif task_type == "regression":
        estimator = HistGradientBoostingRegressor(random_state=seed)
    else:
        raise TrainJobError(
            f"unknown task_type {task_type!r}; use 'classification' or 'regression'"
        )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def read_conf(args: argparse.Namespace) -> dict[str, Any]:
    if args.conf_file:
        text = Path(args.conf_file).read_text(encoding="utf-8")
    elif args.conf_json:
        text = args.conf_json
    else:
        raise TrainJobError("no configuration given; pass --conf-file PATH or --conf-json JSON")
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainJobError(f"the configuration is not valid JSON: {exc}") from exc
    if not isinstance(conf, dict):
        raise TrainJobError(f"the configuration must be a JSON object, got {type(conf).__name__}")
    return conf


def training_rows(conf: Any, bootstrap: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Load the rows to train on and a description of them for the MLflow params."""
    from data.spec import DataSpec, load_windows, split_for_retraining

    windows = load_windows(DataSpec(**conf.data))
    if bootstrap:
        return windows.reference, {"train_on": "reference", "rows": len(windows.reference)}
    train_on = conf.training_window.get("train_on", "reference_and_recent")
    split = split_for_retraining(windows, conf.holdout_fraction, train_on)
    if conf.training_window.get("rows") not in (None, len(split.train)):
        logger.warning(
            "the service expected %s training rows but the job computed %s; the data changed "
            "between the service's split and the job's",
            conf.training_window["rows"],
            len(split.train),
        )
    return split.train, split.training_window


def features_and_target(frame: pd.DataFrame, conf: Any) -> tuple[pd.DataFrame, pd.Series]:
    missing = [name for name in [*conf.features, conf.target] if name not in frame.columns]
    if missing:
        raise TrainJobError(
            f"columns {missing} are missing from the training data, which has {list(frame.columns)}"
        )
    labelled = frame.loc[frame[conf.target].notna()]
    if labelled.empty:
        raise TrainJobError(f"no training row has a value in the target column {conf.target!r}")
    # The model is fitted on the columns as loaded, with their dtypes, because the service later
    # calls it on evaluation rows from the same loader.
    features = labelled[conf.features].reset_index(drop=True)
    return features, labelled[conf.target].reset_index(drop=True)


def _validation_days(times: pd.Series, fraction: float, seed: int) -> np.ndarray | None:
    """Return a mask of the rows on a seeded random `fraction` of the calendar days, or None.

    None when the rows have no usable timestamp or span fewer than `MIN_VALIDATION_DAYS` days.
    """
    if not pd.api.types.is_datetime64_any_dtype(times):
        times = pd.to_datetime(times, errors="coerce", utc=True)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC")
    days = times.dt.floor("D")
    distinct = np.sort(days.dropna().unique())
    if len(distinct) < MIN_VALIDATION_DAYS:
        return None
    rng = np.random.default_rng(seed)
    chosen = rng.choice(distinct, size=max(1, round(len(distinct) * fraction)), replace=False)
    return days.isin(chosen).to_numpy()


def split_validation(
    frame: pd.DataFrame, conf: Any, fraction: float = VALIDATION_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the training rows into rows to fit on and validation rows, `fraction` of the whole.

    With a timestamp column the validation rows are all rows of a seeded random `fraction` of the
    calendar days (UTC), so no validation row shares a day with a fitted row. Without one, or with
    fewer than `MIN_VALIDATION_DAYS` days, they are a seeded random `fraction` of the rows.
    """
    mask = None
    if conf.timestamp and conf.timestamp in frame.columns:
        mask = _validation_days(frame[conf.timestamp], fraction, conf.seed)
    if mask is None:
        # Positions, not index labels: the training rows concatenate two windows whose labels may
        # repeat.
        order = np.random.default_rng(conf.seed).permutation(len(frame))
        mask = np.zeros(len(frame), dtype=bool)
        mask[order[: int(round(len(frame) * fraction))]] = True
    return frame.iloc[np.flatnonzero(~mask)], frame.iloc[np.flatnonzero(mask)]


def validation_rows(frame: pd.DataFrame, conf: Any) -> tuple[pd.DataFrame, pd.Series]:
    """Return the labelled validation rows' features and target; empty when none is labelled."""
    labelled = frame.loc[frame[conf.target].notna()]
    if labelled.empty:
        logger.warning(
            "no validation row has a value in %r; the model is logged without validation "
            "predictions",
            conf.target,
        )
    return labelled[conf.features].reset_index(drop=True), labelled[conf.target].reset_index(
        drop=True
    )


def training_metrics(
    model: Pipeline, x: pd.DataFrame, y: pd.Series, task_type: str, prefix: str = "train"
) -> dict[str, float]:
    """Score the model on the given rows; on its own training rows these show fit, not generalisation."""
    if task_type == "regression":
        predicted = model.predict(x)
        return {
            f"{prefix}_rmse": float(root_mean_squared_error(y, predicted)),
            f"{prefix}_mae": float(mean_absolute_error(y, predicted)),
            f"{prefix}_r2": float(r2_score(y, predicted)),
        }
    probabilities = model.predict_proba(x)
    metrics = {
        f"{prefix}_accuracy": float(
            accuracy_score(y, model.classes_[probabilities.argmax(axis=1)])
        ),
        f"{prefix}_log_loss": float(log_loss(y, probabilities, labels=model.classes_)),
    }
    if len(model.classes_) == 2 and y.nunique() == 2:
        metrics[f"{prefix}_roc_auc"] = float(roc_auc_score(y, probabilities[:, 1]))
    return metrics


def validation_predictions(
    model: Pipeline, x: pd.DataFrame, y: pd.Series, task_type: str
) -> pd.DataFrame:
    """Return the validation rows' true values with the model's output on them.

    Columns: `y_true`; `prediction` (the predicted label or value); and, for binary classifiers,
    `score`, the probability of `model.classes_[1]`, the larger of the two sorted classes.
    """
    predictions = pd.DataFrame({"y_true": y.to_numpy(), "prediction": model.predict(x)})
    if task_type == "classification" and len(model.classes_) == 2:
        predictions["score"] = model.predict_proba(x)[:, 1]
    return predictions


def _experiment_id(tracking_uri: str, experiment_name: str) -> str:
    """Return the experiment's id, creating it when missing.

    With a `sqlite:///` store MLflow would put the artifacts of a new experiment under `./mlruns`
    of the job's working directory, which differs between Airflow tasks and the service. The job
    puts them in `mlartifacts` next to the database file instead, so every process finds them.
    """
    import mlflow

    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return str(experiment.experiment_id)
    artifact_location = None
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri.removeprefix("sqlite:///"))
        artifact_location = (database.resolve().parent / "mlartifacts").as_uri()
    return str(mlflow.create_experiment(experiment_name, artifact_location=artifact_location))


def _pip_requirements() -> list[str]:
    """Pin the versions the model was trained with; listing them skips MLflow's slow inference."""
    import sklearn

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]


def _log_validation(predictions: pd.DataFrame | None) -> None:
    import tempfile

    import mlflow

    if predictions is None:
        return
    with tempfile.TemporaryDirectory(prefix="watchtower-validation-") as folder:
        path = Path(folder) / VALIDATION_ARTIFACT_FILE
        predictions.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=VALIDATION_ARTIFACT_DIR)


def log_and_register(
    model: Pipeline,
    conf: Any,
    params: dict[str, Any],
    metrics: dict[str, float],
    validation: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Log the fitted model to MLflow, register a version and tag run and version with the run id.

    `validation` is logged as `validation/predictions.parquet` when given.
    """
    import mlflow

    mlflow.set_tracking_uri(conf.mlflow_tracking_uri)
    experiment_id = _experiment_id(conf.mlflow_tracking_uri, conf.experiment_name)
    classifier = conf.task_type == "classification"
    tags = {RUN_ID_TAG: conf.watchtower_run_id, "watchtower_dag_id": conf.dag_id}

    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(conf.model_dump(mode="json"), "retraining_config.json")
        _log_validation(validation)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            # NOTE: no signature on purpose. MLflow's schema enforcement rejects an int64 column
            # where the schema expects double, and a float column with missing values where it
            # expects long. Evaluation windows can differ from training rows in exactly that way.
            pip_requirements=_pip_requirements(),
            pyfunc_predict_fn="predict_proba" if classifier else "predict",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
    # Registering separately from log_model creates the version with its tag in one call, so the
    # service never finds a version of this run without the run id tag.
    registered = mlflow.register_model(
        info.model_uri, conf.model_name, tags={RUN_ID_TAG: conf.watchtower_run_id}
    )
    version = str(registered.version)
    return {
        "watchtower_run_id": conf.watchtower_run_id,
        "mlflow_run_id": run.info.run_id,
        "reused": False,
        "experiment_id": experiment_id,
        "model_name": conf.model_name,
        "version": version,
        "model_uri": f"models:/{conf.model_name}/{version}",
    }


def existing_version(conf: Any) -> dict[str, Any] | None:
    """Return the result line of a version already registered for this watchtower run, if any.

    An Airflow task retry or a repeated local trigger then reuses that version instead of
    registering a second one for the same run.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(conf.mlflow_tracking_uri)
    run_id = conf.watchtower_run_id.replace("'", "")
    query = f"name = '{conf.model_name}' and tags.{RUN_ID_TAG} = '{run_id}'"
    try:
        versions = MlflowClient().search_model_versions(query)
    except MlflowException as exc:
        logger.info("no existing version found for run %s: %s", conf.watchtower_run_id, exc)
        return None
    ready = [
        v
        for v in versions
        if v.status == "READY" and v.tags.get(RUN_ID_TAG) == conf.watchtower_run_id
    ]
    if not ready:
        return None
    latest = max(ready, key=lambda v: int(v.version))
    return {
        "watchtower_run_id": conf.watchtower_run_id,
        "mlflow_run_id": latest.run_id,
        "reused": True,
        "model_name": conf.model_name,
        "version": str(latest.version),
        "model_uri": f"models:/{conf.model_name}/{latest.version}",
    }


def run_job(raw_conf: dict[str, Any], bootstrap: bool = False) -> dict[str, Any]:
    """Train, log and register one model version as `raw_conf` describes; return the result line."""
    from pydantic import ValidationError

    from training.config import RetrainingConfig

    bootstrap = bootstrap or bool(raw_conf.get("bootstrap_champion", False))
    try:
        conf = RetrainingConfig.model_validate(raw_conf)
    except ValidationError as exc:
        raise TrainJobError(f"invalid retraining configuration: {exc}") from exc

    existing = existing_version(conf)
    if existing is not None:
        logger.info(
            "version %s of %s is already registered for run %s; not training again",
            existing["version"],
            conf.model_name,
            conf.watchtower_run_id,
        )
        return existing

    started = time.perf_counter()
    frame, window = training_rows(conf, bootstrap)
    fit_frame, validation_frame = split_validation(frame, conf)
    x, y = features_and_target(fit_frame, conf)
    model = build_model(conf.features, conf.categorical, conf.task_type, conf.seed)
    model.fit(x, y)
    fit_seconds = time.perf_counter() - started
    logger.info(
        "trained on %s rows in %.2f s, %s validation rows held out",
        len(x),
        fit_seconds,
        len(validation_frame),
    )
    validation_x, validation_y = validation_rows(validation_frame, conf)

    params = {
        "task_type": conf.task_type,
        "target": conf.target,
        "n_features": len(conf.features),
        "n_categorical": len(conf.categorical),
        # Labelled rows of the training window; the model is fitted on `fit_rows` of them.
        "train_rows": len(x) + len(validation_x),
        "fit_rows": len(x),
        "validation_rows": len(validation_x),
        "validation_fraction": VALIDATION_FRACTION,
        "train_on": window.get("train_on"),
        "holdout_fraction": conf.holdout_fraction,
        "bootstrap_champion": bootstrap,
        "seed": conf.seed,
        "estimator": type(model.named_steps["model"]).__name__,
    }
    metrics = {**training_metrics(model, x, y, conf.task_type), "fit_seconds": fit_seconds}
    validation = None
    if len(validation_x):
        metrics.update(
            training_metrics(model, validation_x, validation_y, conf.task_type, "validation")
        )
        validation = validation_predictions(model, validation_x, validation_y, conf.task_type)
    return log_and_register(model, conf, params, metrics, validation)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train and register one model version for watchtower."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--conf-file", help="path of a JSON file with the RetrainingConfig")
    source.add_argument("--conf-json", help="the RetrainingConfig as a JSON string")
    parser.add_argument(
        "--bootstrap-champion",
        action="store_true",
        help="train on the reference window alone, to create the first champion",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    from data.base import DataLoaderError

    try:
        result = run_job(read_conf(args), bootstrap=args.bootstrap_champion)
    except (TrainJobError, DataLoaderError) as exc:
        print(f"train_job: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
