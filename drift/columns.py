"""Input validation and the type rule that decides how each column is tested.

Type rule, applied to each column that the caller did not list as categorical or numeric:

- Booleans (a `bool` dtype, or an object column whose values are all booleans) are categorical.
- Integer values with at most `CATEGORICAL_MAX_DISTINCT` (10) distinct values in the reference window
  are categorical when those values repeat (at most half as many distinct values as values). So a
  0/1 flag or a small code is compared category by category, while five distinct integers in a
  five-row window stay numeric. "Integer values" means an integer dtype, or floats whose finite
  values are all whole numbers, because pandas stores an integer column with missing values as floats.
- Other integers and all floats are numeric.
- Object and string columns are categorical, and their values are compared as strings, so `1` and
  `"1"` in a mixed column are one category. Object columns that contain only numbers (such as the
  `Decimal` values a SQL driver returns) count as numeric.
- Datetime, timedelta and period columns are skipped with a reason. List one as numeric to test it
  as seconds since the Unix epoch (or seconds, for durations).
- A column with no value in either window is skipped with a reason and left out of the drift share.

The kind comes from the reference window; when the reference has no value, from the current one.
The caller overrides the rule with the `categorical` and `numeric` lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from drift.report import FeatureKind

WindowName = Literal["reference", "current"]

# Integer columns with at most this many distinct reference values are tested as categorical.
CATEGORICAL_MAX_DISTINCT = 10

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal"}
_TEMPORAL_INFERRED = {
    "datetime64",
    "datetime",
    "date",
    "timedelta64",
    "timedelta",
    "time",
    "period",
}


class DriftInputError(ValueError):
    """Raised when the windows or the column lists cannot be tested.

    The message names the window or column and the change to make.
    """


@dataclass(frozen=True)
class ColumnPlan:
    """The test plan of one column: its kind, or the reason it is skipped (then `kind` is None)."""

    name: str
    kind: FeatureKind | None
    skip_reason: str | None = None


def _duplicates(frame: pd.DataFrame) -> list[str]:
    duplicated = frame.columns[frame.columns.duplicated()]
    return [str(name) for name in dict.fromkeys(duplicated)]


def check_duplicate_columns(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    """Raise `DriftInputError` listing duplicate column names in either window."""
    problems = []
    for window, frame in (("reference", reference), ("current", current)):
        duplicates = _duplicates(frame)
        if duplicates:
            problems.append(f"duplicate column names in {window}: {duplicates}")
    if problems:
        raise DriftInputError("; ".join(problems) + "; rename or drop the repeated columns")


def check_not_empty(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    """Raise `DriftInputError` naming the window that has no rows."""
    for window, frame in (("reference", reference), ("current", current)):
        if len(frame) == 0:
            raise DriftInputError(
                f"the {window} window is empty (0 rows); drift detection needs at least one row "
                "in each window, so check the window's dates, path or query"
            )


def check_columns_exist(
    columns: Iterable[str], reference: pd.DataFrame, current: pd.DataFrame, role: str
) -> None:
    """Raise `DriftInputError` when a column named by the caller is missing from a window."""
    for column in columns:
        for window, frame in (("reference", reference), ("current", current)):
            if column not in frame.columns:
                raise DriftInputError(
                    f"{role} column {column!r} is not in the {window} window; "
                    f"its columns are {[str(name) for name in frame.columns]}"
                )


def check_overrides(categorical: Sequence[str], numeric: Sequence[str]) -> None:
    """Raise `DriftInputError` when a column is listed both as categorical and as numeric."""
    both = sorted(set(categorical) & set(numeric))
    if both:
        raise DriftInputError(
            f"columns listed both as categorical and as numeric: {both}; keep each in one list"
        )


def _is_temporal(series: pd.Series) -> bool:
    dtype = series.dtype
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        return True
    return isinstance(dtype, pd.PeriodDtype)


def _inferred_type(series: pd.Series) -> str:
    return str(ptypes.infer_dtype(series, skipna=True))


def _has_integer_values(series: pd.Series) -> bool:
    if ptypes.is_integer_dtype(series.dtype):
        return True
    if not ptypes.is_float_dtype(series.dtype):
        return False
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    # Measurements usually show a fraction within the first values, which skips the full pass.
    head = values[:1000]
    head = head[np.isfinite(head)]
    if not np.all(head == np.round(head)):
        return False
    finite = values[np.isfinite(values)]
    return bool(np.all(finite == np.round(finite)))


def _few_repeated_values(series: pd.Series) -> bool:
    distinct = series.nunique(dropna=True)
    return bool(distinct <= CATEGORICAL_MAX_DISTINCT and 2 * distinct <= series.count())


def _kind_by_rule(series: pd.Series) -> tuple[FeatureKind | None, str | None]:
    """Return the kind that the type rule gives one window's column, or the reason to skip it."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "categorical", None
    if _is_temporal(series):
        return None, f"{dtype} column: not tested; list it as numeric to test it as seconds"
    if ptypes.is_complex_dtype(dtype):
        return None, f"{dtype} column: complex values are not tested"
    if ptypes.is_numeric_dtype(dtype):
        if _has_integer_values(series) and _few_repeated_values(series):
            return "categorical", None
        return "numeric", None

    inferred = _inferred_type(series)
    if inferred == "boolean":
        return "categorical", None
    if inferred in _TEMPORAL_INFERRED:
        return (
            None,
            f"{inferred} values: not tested; list the column as numeric to test it as seconds",
        )
    if inferred in _NUMERIC_INFERRED:
        return _kind_by_rule(pd.to_numeric(series))
    return "categorical", None


def _has_values(series: pd.Series) -> bool:
    if series.dtype != object:
        return bool(series.count() > 0)
    # For object columns this is faster than counting missing values: "empty" means all missing.
    return _inferred_type(series) != "empty"


def plan_column(
    name: str,
    reference: pd.Series,
    current: pd.Series,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
) -> ColumnPlan:
    """Decide how to test one column, following the caller's lists first, then the type rule."""
    reference_has_values = _has_values(reference)
    if not reference_has_values and not _has_values(current):
        return ColumnPlan(name, None, "empty in both windows: every value is missing")
    if name in categorical:
        return ColumnPlan(name, "categorical")
    if name in numeric:
        return ColumnPlan(name, "numeric")

    source = reference if reference_has_values else current
    kind, reason = _kind_by_rule(source)
    return ColumnPlan(name, kind, reason)


def _temporal_to_seconds(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.PeriodDtype):
        series = series.dt.to_timestamp()
    if ptypes.is_timedelta64_dtype(series.dtype):
        return series.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    nanoseconds = series.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
    nanoseconds[series.isna().to_numpy()] = np.nan
    return nanoseconds / 1e9


def numeric_values(series: pd.Series, window: WindowName) -> np.ndarray:
    """Return the column as float64, with NaN for missing values and +-inf kept as they are.

    Raises `DriftInputError` naming the column and window when a value is not a number.
    """
    if _is_temporal(series):
        return _temporal_to_seconds(series)
    if ptypes.is_bool_dtype(series.dtype):
        series = series.astype("float64")
    if ptypes.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)

    inferred = _inferred_type(series)
    if inferred in _TEMPORAL_INFERRED:
        return _temporal_to_seconds(pd.to_datetime(series))
    try:
        converted = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError) as exc:
        raise DriftInputError(
            f"column {series.name!r} in the {window} window is listed as numeric but has a value "
            f"that is not a number ({exc}); list it as categorical or clean the values"
        ) from exc
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _label(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_counts(series: pd.Series) -> pd.Series:
    """Count the non-missing values of a column by their string label, largest count first.

    Whole floats are labelled like integers (`1.0` as "1"), so a column that pandas read as integers
    in one window and as floats in the other gets the same labels in both.
    """
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    labels = [_label(value) for value in counts.index]
    merged = pd.Series(counts.to_numpy(dtype=np.int64), index=labels).groupby(level=0).sum()
    return merged.sort_values(ascending=False, kind="stable")


def category_labels(series: pd.Series) -> pd.Series:
    """Return the column's values as string labels (as `category_counts` labels them), None for missing."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.array([_label(value) for value in uniques] + [None], dtype=object)
    # Code -1 (missing) indexes the trailing None.
    return pd.Series(labels[codes], index=series.index, name=series.name)
