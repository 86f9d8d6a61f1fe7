"""Which data a run watches, as one JSON-serialisable value, and how to load it.

The service, the command line and the training job (a separate process) all build the same
`DataSpec` and call `load_windows` and `split_for_retraining` on it, so they see the same rows.
A spec never contains a secret: the password of an SQL URL is replaced by "***" and read again from
`DATA_SQL_URL` in the process that loads the data.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from data.base import BaseDataLoader, DataLoaderError, DataWindows
from data.split import RetrainSplit, TrainOn, split_for_retraining
from data.windows import parse_window
from watchtower.settings import DataSource, Settings

logger = logging.getLogger(__name__)

__all__ = [
    "DataSpec",
    "RetrainSplit",
    "TrainOn",
    "create_loader",
    "load_windows",
    "redact_url",
    "split_for_retraining",
]

# Windows of the flight data when neither the settings nor the run name them.
FLIGHTS_REFERENCE_WINDOW = "2013-01:2013-03"
FLIGHTS_CURRENT_WINDOW = "2013-07"

_WINDOWLESS_HINT = {
    "synthetic": "the synthetic source generates its own windows; choose the drift with SYNTHETIC_DRIFT",
    "sql": "the SQL source takes one query per window; change DATA_REFERENCE_QUERY and DATA_CURRENT_QUERY",
}


def redact_url(url: str) -> str:
    """Return the SQLAlchemy URL with its password replaced by "***"."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError as exc:
        raise DataLoaderError(
            "invalid DATA_SQL_URL: it is not an SQLAlchemy URL such as 'sqlite:///path/to/file.db'"
        ) from exc


def _schema_options(settings: Settings) -> dict[str, Any]:
    return {
        "target": settings.data_target_column,
        "prediction": settings.data_prediction_column,
        "timestamp": settings.data_timestamp_column,
        "categorical": list(settings.data_categorical_columns),
    }


def _check_window(window: str | None) -> str | None:
    if window is not None:
        parse_window(window)
    return window


def _synthetic_options(settings: Settings) -> dict[str, Any]:
    return {
        "rows": settings.synthetic_rows,
        "seed": settings.synthetic_seed,
        "drift": settings.synthetic_drift,
        "task_type": settings.model_task_type,
    }


def _files_options(
    settings: Settings, reference_window: str | None, current_window: str | None
) -> dict[str, Any]:
    if not settings.data_reference_path:
        raise DataLoaderError(
            "DATA_SOURCE=files needs DATA_REFERENCE_PATH (a CSV or Parquet path or glob)"
        )
    options = _schema_options(settings)
    options["reference_path"] = settings.data_reference_path
    options["current_path"] = settings.data_current_path
    options["reference_window"] = _check_window(reference_window or settings.data_reference_window)
    options["current_window"] = _check_window(current_window or settings.data_current_window)
    has_window = options["reference_window"] or options["current_window"]
    if has_window and not settings.data_timestamp_column:
        raise DataLoaderError(
            "time windows on files need DATA_TIMESTAMP_COLUMN, the column the windows select on"
        )
    return options


def _sql_options(settings: Settings) -> dict[str, Any]:
    missing = [
        name
        for name, value in [
            ("DATA_SQL_URL", settings.data_sql_url),
            ("DATA_REFERENCE_QUERY", settings.data_reference_query),
            ("DATA_CURRENT_QUERY", settings.data_current_query),
        ]
        if not value
    ]
    if missing:
        raise DataLoaderError(
            f"DATA_SOURCE=sql needs {', '.join(missing)}; set them in the environment"
        )
    options = _schema_options(settings)
    options["url"] = redact_url(str(settings.data_sql_url))
    options["reference_query"] = settings.data_reference_query
    options["current_query"] = settings.data_current_query
    return options


def _flights_options(
    settings: Settings, reference_window: str | None, current_window: str | None
) -> dict[str, Any]:
    reference = reference_window or settings.data_reference_window or FLIGHTS_REFERENCE_WINDOW
    current = current_window or settings.data_current_window or FLIGHTS_CURRENT_WINDOW
    return {
        "reference_window": _check_window(reference),
        "current_window": _check_window(current),
        "task_type": settings.model_task_type,
    }


def _census_options(
    settings: Settings, reference_window: str | None, current_window: str | None
) -> dict[str, Any]:
    from data.census import DEFAULT_CURRENT_WINDOW, DEFAULT_REFERENCE_WINDOW, parse_year_window

    reference = reference_window or settings.data_reference_window or DEFAULT_REFERENCE_WINDOW
    current = current_window or settings.data_current_window or DEFAULT_CURRENT_WINDOW
    parse_year_window(reference)
    parse_year_window(current)
    if settings.model_task_type != "classification":
        raise DataLoaderError(
            "DATA_SOURCE=census has only the binary target 'employed', "
            "so set MODEL_TASK_TYPE=classification"
        )
    return {
        "reference_window": reference,
        "current_window": current,
        "task_type": settings.model_task_type,
    }


def _reject_window_override(
    source: str, reference_window: str | None, current_window: str | None
) -> None:
    if reference_window is None and current_window is None:
        return
    override = reference_window if reference_window is not None else current_window
    raise DataLoaderError(
        f"DATA_SOURCE={source} has no time windows, so the window {override!r} cannot be applied; "
        f"{_WINDOWLESS_HINT[source]}"
    )


class DataSpec(BaseModel):
    """The data source of a run and its options, as plain JSON."""

    source: DataSource
    options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        reference_window: str | None = None,
        current_window: str | None = None,
    ) -> DataSpec:
        """Build the spec from the `DATA_*` settings, with optional per-run window overrides.

        Raises `DataLoaderError` when a setting the source needs is missing, a window is invalid,
        a window override is given for a source without windows (synthetic, sql), or the census
        source is asked for regression.
        """
        source = settings.data_source
        if source in _WINDOWLESS_HINT:
            _reject_window_override(source, reference_window, current_window)
            if settings.data_reference_window or settings.data_current_window:
                logger.warning(
                    "DATA_REFERENCE_WINDOW and DATA_CURRENT_WINDOW are ignored for DATA_SOURCE=%s",
                    source,
                )
        if source == "synthetic":
            return cls(source=source, options=_synthetic_options(settings))
        if source == "sql":
            return cls(source=source, options=_sql_options(settings))
        if source == "files":
            options = _files_options(settings, reference_window, current_window)
            return cls(source=source, options=options)
        if source == "census":
            options = _census_options(settings, reference_window, current_window)
            return cls(source=source, options=options)
        return cls(
            source=source, options=_flights_options(settings, reference_window, current_window)
        )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def create_loader(spec: DataSpec) -> BaseDataLoader:
    """Return the loader for the spec's source, with its options validated."""
    # The loaders are imported here so that a process pays only for the source it uses.
    if spec.source == "synthetic":
        from data.synthetic import SyntheticDataLoader

        return SyntheticDataLoader.from_options(spec.options)
    if spec.source == "files":
        from data.files import FileDataLoader

        return FileDataLoader.from_options(spec.options)
    if spec.source == "sql":
        from data.sql import SqlDataLoader

        return SqlDataLoader.from_options(spec.options)
    if spec.source == "census":
        from data.census import CensusDataLoader

        return CensusDataLoader.from_options(spec.options)
    from data.flights import FlightsDataLoader

    return FlightsDataLoader.from_options(spec.options)


def load_windows(spec: DataSpec) -> DataWindows:
    """Load the reference and current windows that `spec` describes.

    Raises `DataLoaderError` naming the file, query, column or window that failed.
    """
    loader = create_loader(spec)
    windows = loader.load()
    logger.info(
        "loaded %s windows: reference=%s rows, current=%s rows",
        spec.source,
        len(windows.reference),
        len(windows.current),
    )
    return windows
