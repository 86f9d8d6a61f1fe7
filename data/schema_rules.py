"""Schema of user-supplied tables (files, SQL): which columns are features, and checks on them."""

from __future__ import annotations

import warnings

import pandas as pd

from data.base import DataLoaderError, DataSchema


def check_columns(frame: pd.DataFrame, columns: list[str], role: str) -> None:
    """Raise `DataLoaderError` naming the columns of `columns` that `frame` lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataLoaderError(
            f"column(s) {missing} not found in the {role} window; its columns are {list(frame.columns)}"
        )


def parse_timestamps(frame: pd.DataFrame, column: str, origin: str) -> pd.DataFrame:
    """Return `frame` with `column` parsed as datetimes; `origin` names where the rows came from."""
    if column not in frame.columns:
        raise DataLoaderError(
            f"timestamp column {column!r} not found in {origin}; its columns are {list(frame.columns)}"
        )
    try:
        with warnings.catch_warnings():
            # pandas warns when it falls back to parsing each value on its own; that is expected.
            warnings.filterwarnings(
                "ignore", message="Could not infer format", category=UserWarning
            )
            parsed = pd.to_datetime(frame[column])
    except (ValueError, TypeError) as exc:
        raise DataLoaderError(
            f"timestamp column {column!r} in {origin} does not parse as datetimes: {exc}"
        ) from exc
    return frame.assign(**{column: parsed})


def build_schema(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    target: str | None,
    prediction: str | None,
    timestamp: str | None,
    categorical: list[str],
    features: list[str] | None,
) -> DataSchema:
    """Build the schema and check that both windows have its columns.

    Without an explicit `features` list, every reference column except the target, prediction and
    timestamp is a feature. `categorical` must be a subset of the features.
    """
    role_columns = [column for column in (target, prediction, timestamp) if column]
    if features is None:
        features = [column for column in reference.columns if column not in role_columns]
    check_columns(reference, [*features, *role_columns], "reference")
    check_columns(current, [*features, *role_columns], "current")

    not_features = [column for column in categorical if column not in features]
    if not_features:
        raise DataLoaderError(
            f"categorical column(s) {not_features} are not features; "
            f"fix DATA_CATEGORICAL_COLUMNS (the features are {features})"
        )
    return DataSchema(
        features=list(features),
        categorical=list(categorical),
        target=target,
        prediction=prediction,
        timestamp=timestamp,
    )
