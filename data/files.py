"""Windows read from CSV or Parquet files, given as paths or glob patterns.

Two layouts are supported:

- two sets of files, `reference_path` and `current_path`, each optionally narrowed by a time window;
- one set of files, `reference_path` alone, split into the reference and current windows by time
  (both windows and a timestamp column are then required).

Files matched by one pattern are read in sorted path order and concatenated, so they must have the
same columns. Without an explicit feature list, every column except the target, prediction and
timestamp is a feature.
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from data.base import BaseDataLoader, DataLoaderError, DataWindows
from data.options import parse_options
from data.schema_rules import build_schema, parse_timestamps
from data.windows import TimeWindow, parse_window, select_window

logger = logging.getLogger(__name__)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARACTERS = set("*?[")


class FileOptions(BaseModel):
    """Options of the files source, as stored in `DataSpec.options`."""

    model_config = ConfigDict(extra="forbid")

    reference_path: str
    current_path: str | None = None
    reference_window: str | None = None
    current_window: str | None = None
    timestamp: str | None = None
    target: str | None = None
    prediction: str | None = None
    categorical: list[str] = Field(default_factory=list)
    features: list[str] | None = None


def resolve_paths(pattern: str, setting: str) -> list[Path]:
    """Return the files a path or glob pattern names, sorted; `setting` names it in errors."""
    if _GLOB_CHARACTERS & set(pattern):
        matches = sorted(Path(match) for match in glob.glob(pattern, recursive=True))
        files = [match for match in matches if match.is_file()]
        if not files:
            raise DataLoaderError(
                f"no files match {setting}={pattern!r}; check the pattern and the working directory"
            )
        return files

    path = Path(pattern)
    if not path.is_file():
        raise DataLoaderError(
            f"file not found: {setting}={pattern!r}; give an existing CSV or Parquet file or a glob"
        )
    return [path]


def read_table(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet file, raising `DataLoaderError` that names the file."""
    name = path.name.lower()
    try:
        if name.endswith(_CSV_SUFFIXES):
            return pd.read_csv(path)
        if name.endswith(_PARQUET_SUFFIXES):
            return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise DataLoaderError(f"failed to read {path}: {exc}") from exc
    raise DataLoaderError(
        f"unsupported file type: {path}; use .csv (optionally compressed) or .parquet"
    )


def _read_all(paths: list[Path], setting: str) -> pd.DataFrame:
    frames = [read_table(path) for path in paths]
    columns = list(frames[0].columns)
    for path, frame in zip(paths[1:], frames[1:], strict=True):
        if set(frame.columns) != set(columns):
            missing = sorted(set(columns) - set(frame.columns))
            extra = sorted(set(frame.columns) - set(columns))
            raise DataLoaderError(
                f"{path} (matched by {setting}) has different columns from {paths[0]}: "
                f"missing {missing}, extra {extra}; files of one window must share their columns"
            )
    if len(frames) == 1:
        return frames[0]
    return pd.concat([frame[columns] for frame in frames], ignore_index=True)


def _narrow(
    frame: pd.DataFrame, timestamp: str | None, window: TimeWindow | None, role: str
) -> pd.DataFrame:
    if window is None or timestamp is None:
        return frame
    selected = select_window(frame, timestamp, window)
    if selected.empty:
        times = frame[timestamp]
        raise DataLoaderError(
            f"the {role} window {window.text!r} selects no rows; column {timestamp!r} spans "
            f"{times.min()} to {times.max()}"
        )
    return selected


class FileDataLoader(BaseDataLoader):
    """Load the reference and current windows from CSV or Parquet files."""

    def __init__(self, options: FileOptions) -> None:
        self.options = options
        self.reference_window = (
            parse_window(options.reference_window) if options.reference_window else None
        )
        self.current_window = (
            parse_window(options.current_window) if options.current_window else None
        )
        has_window = self.reference_window is not None or self.current_window is not None
        if has_window and not options.timestamp:
            raise DataLoaderError(
                "time windows on files need a timestamp column; set DATA_TIMESTAMP_COLUMN"
            )
        if options.current_path is None and (
            self.reference_window is None or self.current_window is None
        ):
            raise DataLoaderError(
                "without DATA_CURRENT_PATH the files are split by time: set DATA_REFERENCE_WINDOW, "
                "DATA_CURRENT_WINDOW and DATA_TIMESTAMP_COLUMN, or set DATA_CURRENT_PATH"
            )

    @classmethod
    def from_options(cls, options: dict[str, object]) -> FileDataLoader:
        return cls(parse_options(FileOptions, options, "files"))

    def _read(self, pattern: str, setting: str) -> tuple[pd.DataFrame, int]:
        paths = resolve_paths(pattern, setting)
        frame = _read_all(paths, setting)
        if self.options.timestamp:
            frame = parse_timestamps(frame, self.options.timestamp, f"the files of {setting}")
        logger.info("read %s rows from %s file(s) of %s", len(frame), len(paths), setting)
        return frame, len(paths)

    def _windows(self) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
        options = self.options
        reference_all, reference_files = self._read(options.reference_path, "DATA_REFERENCE_PATH")
        if options.current_path is None:
            current_all, current_files = reference_all, 0
        else:
            current_all, current_files = self._read(options.current_path, "DATA_CURRENT_PATH")

        reference = _narrow(reference_all, options.timestamp, self.reference_window, "reference")
        current = _narrow(current_all, options.timestamp, self.current_window, "current")
        counts: dict[str, object] = {
            "reference_files": reference_files,
            "current_files": current_files,
        }
        return reference, current, counts

    def load(self) -> DataWindows:
        reference, current, counts = self._windows()
        if reference.empty or current.empty:
            empty = "reference" if reference.empty else "current"
            raise DataLoaderError(f"the {empty} window has no rows; check its files")
        options = self.options
        schema = build_schema(
            reference,
            current,
            target=options.target,
            prediction=options.prediction,
            timestamp=options.timestamp,
            categorical=options.categorical,
            features=options.features,
        )
        description: dict[str, object] = {
            "source": "files",
            "reference_path": self.options.reference_path,
            "current_path": self.options.current_path,
            "reference_window": self.options.reference_window,
            "current_window": self.options.current_window,
            **counts,
        }
        return DataWindows(
            reference=reference, current=current, schema=schema, description=description
        )
