"""The split of loaded windows into the rows a retrained model learns from and the rows it is scored on.

The evaluation rows are the latest `holdout_fraction` of the current window, and they are disjoint
from the training rows and later in time than every training row taken from the current window.
Because the parts are disjoint, the challenger is never scored on a row it was trained on, and the
service scores champion and challenger on the same evaluation rows. The split is a pure function of the windows, so the training job and the service
compute the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from data.base import DataLoaderError, DataSchema, DataWindows

TrainOn = Literal["reference_and_recent", "recent"]
TRAIN_ON_CHOICES: tuple[str, ...] = get_args(TrainOn)


@dataclass
class RetrainSplit:
    """Training rows, evaluation rows and a JSON description of each for `RetrainingConfig`."""

    train: pd.DataFrame
    evaluation: pd.DataFrame
    training_window: dict[str, Any]
    evaluation_window: dict[str, Any]
    schema: DataSchema
    train_on: TrainOn = "reference_and_recent"


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()


def _bounds(frame: pd.DataFrame, column: str | None) -> dict[str, str | None]:
    if column is None or frame.empty:
        return {"start": None, "end": None}
    return {"start": _iso(frame[column].min()), "end": _iso(frame[column].max())}


def _holdout_rows(rows: int, holdout_fraction: float) -> int:
    """Rows to hold out: the rounded share, at least one, and leaving at least one to train on."""
    return min(max(round(rows * holdout_fraction), 1), rows - 1)


def _as_datetimes(current: pd.DataFrame, column: str) -> pd.Series:
    values = current[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    try:
        return pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        raise DataLoaderError(
            f"timestamp column {column!r} of the current window does not hold datetimes; "
            "fix the column or leave the timestamp out of the schema"
        ) from exc


def _instants(times: pd.Series) -> np.ndarray:
    """Return the timestamps as int64 nanoseconds since the epoch (UTC for timezone-aware ones)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _cut_by_time(times: np.ndarray, holdout: int) -> np.ndarray:
    """Return a mask of the evaluation rows among `times`, sorted ascending.

    The cut falls between two distinct timestamps, so rows sharing a timestamp stay on one side.
    When the tie group at the cut would leave nothing to train on, the group goes to training.
    """
    cut_time = times[len(times) - holdout]
    evaluation = times >= cut_time
    if evaluation.all():
        evaluation = times > cut_time
    return evaluation


def _split_current(
    current: pd.DataFrame, timestamp: str | None, holdout_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Return (recent training rows, evaluation rows, rows dropped for a missing timestamp)."""
    dropped = 0
    if timestamp is not None:
        times = _as_datetimes(current, timestamp)
        known = times.notna().to_numpy()
        dropped = int((~known).sum())
        current = current.iloc[np.flatnonzero(known)].reset_index(drop=True)
        current[timestamp] = times[known].reset_index(drop=True)
        instants = _instants(current[timestamp])
        order = np.argsort(instants, kind="stable")
        current = current.iloc[order].reset_index(drop=True)
        instants = instants[order]

    rows = len(current)
    if rows < 2:
        raise DataLoaderError(
            f"the current window has {rows} usable rows; holding out evaluation rows needs at least 2"
        )
    holdout = _holdout_rows(rows, holdout_fraction)
    if timestamp is None:
        evaluation_mask = np.arange(rows) >= rows - holdout
    else:
        evaluation_mask = _cut_by_time(instants, holdout)
    if not evaluation_mask.any():
        raise DataLoaderError(
            f"every row of the current window has the same {timestamp!r} value, so no later rows "
            "can be held out for evaluation; widen the current window"
        )
    recent = current.loc[~evaluation_mask].reset_index(drop=True)
    evaluation = current.loc[evaluation_mask].reset_index(drop=True)
    return recent, evaluation, dropped


def split_for_retraining(
    windows: DataWindows,
    holdout_fraction: float,
    train_on: TrainOn = "reference_and_recent",
) -> RetrainSplit:
    """Split loaded windows into training rows and later, disjoint evaluation rows.

    Parameters
    ----------
    windows
        The loaded reference and current windows.
    holdout_fraction
        Share of the current window, between 0 and 1 exclusive, held out for evaluation. The latest
        rows by the schema's timestamp are held out, or the last rows in order without a timestamp.
        Rows sharing the timestamp at the cut stay together, so the held-out share can exceed the
        requested one by the size of one tie group.
    train_on
        "reference_and_recent" trains on the reference window plus the earlier part of the current
        window; "recent" trains on the earlier part of the current window only.

    Raises `DataLoaderError` when the fraction or `train_on` is invalid or the current window is too
    small to split.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise DataLoaderError(
            f"holdout fraction must be between 0 and 1 exclusive, got {holdout_fraction}"
        )
    if train_on not in TRAIN_ON_CHOICES:
        raise DataLoaderError(
            f"unknown train_on {train_on!r}; choose one of {list(TRAIN_ON_CHOICES)}"
        )

    schema = windows.schema
    timestamp = schema.timestamp if schema.timestamp in windows.current.columns else None
    recent, evaluation, dropped = _split_current(windows.current, timestamp, holdout_fraction)

    reference = (
        windows.reference if train_on == "reference_and_recent" else windows.reference.iloc[:0]
    )
    train = pd.concat([reference, recent], ignore_index=True)

    reference_bounds = _bounds(reference, timestamp if timestamp in reference.columns else None)
    recent_bounds = _bounds(recent, timestamp)
    training_window: dict[str, Any] = {
        "train_on": train_on,
        "timestamp": timestamp,
        "rows": len(train),
        "reference_rows": len(reference),
        "recent_rows": len(recent),
        "reference_start": reference_bounds["start"],
        "reference_end": reference_bounds["end"],
        "recent_start": recent_bounds["start"],
        "recent_end": recent_bounds["end"],
    }
    evaluation_window: dict[str, Any] = {
        "timestamp": timestamp,
        "rows": len(evaluation),
        "holdout_fraction": holdout_fraction,
        "current_rows_without_timestamp": dropped,
        **_bounds(evaluation, timestamp),
    }
    if timestamp is None:
        # Without a timestamp the split is by position in the current window.
        evaluation_window["first_current_row"] = len(recent)
    return RetrainSplit(
        train=train,
        evaluation=evaluation,
        training_window=training_window,
        evaluation_window=evaluation_window,
        schema=schema,
        train_on=train_on,
    )
