"""Real data: the American Community Survey for Massachusetts, 2015 to 2018, as bundled with nannyml.

The nannyml 0.13.1 wheel ships three Parquet files in `nannyml/datasets/data`:
`employment_MA_reference.pq` (2015, with the target), `employment_MA_analysis.pq` (2016 to 2018) and
`employment_MA_analysis_target.pq` (the 2016 to 2018 targets, joined on `id`). The files are read by
path and nannyml is never imported, because importing it needs its 25 direct dependencies, which
this project does not install. `make venv` installs the wheel with `--no-deps` for that reason.

Each row is one person. The features are the age `AGEP` and 15 survey codes, which are categorical
and kept as strings. The classification target `employed` is 0 or 1. nannyml's own `prediction` and
`predicted_probability` columns come from nannyml's model, not the monitored one, and are dropped.

The data have no timestamp, only a survey `year`. Windows are a year ("2018") or an inclusive range
of years ("2016:2018"). Rows keep nannyml's `id` order, which runs year by year, so a split without a
timestamp holds out the last rows of the latest year in the window. The decision benchmark uses
2015 against a later year as a control: its drift is expected to be significant but harmless.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from functools import lru_cache
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from data.base import BaseDataLoader, DataLoaderError, DataSchema, DataWindows
from data.options import parse_options
from watchtower.settings import TaskType

logger = logging.getLogger(__name__)

CENSUS_TARGET = "employed"
CENSUS_NUMERIC = ["AGEP"]
CENSUS_CATEGORICAL = [
    "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
    "DREM", "SEX", "RAC1P",
]  # fmt: skip
CENSUS_REFERENCE_YEAR = 2015
CENSUS_CURRENT_YEARS = (2016, 2017, 2018)
FIRST_YEAR = 2015
LAST_YEAR = 2018
DEFAULT_REFERENCE_WINDOW = "2015"
DEFAULT_CURRENT_WINDOW = "2018"

REFERENCE_FILE = "employment_MA_reference.pq"
ANALYSIS_FILE = "employment_MA_analysis.pq"
ANALYSIS_TARGET_FILE = "employment_MA_analysis_target.pq"
CENSUS_FILES = (REFERENCE_FILE, ANALYSIS_FILE, ANALYSIS_TARGET_FILE)
INSTALL_HINT = (
    "run `make venv`, which installs the nannyml wheel without its dependencies, "
    "or run pip install --no-deps nannyml==0.13.1"
)


def _nannyml_package_folder() -> Path | None:
    # find_spec on a top-level name locates the package without running its __init__.
    spec = importlib.util.find_spec("nannyml")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def nannyml_data_folder() -> Path | None:
    """Return the data folder of an installed nannyml package, or None when the census files are absent."""
    folder = _nannyml_package_folder()
    if folder is None or not (folder / REFERENCE_FILE).is_file():
        return None
    return folder


def census_data_folder() -> Path:
    """Return the installed nannyml data folder, raising `DataLoaderError` when nannyml is missing."""
    folder = _nannyml_package_folder()
    if folder is None:
        raise DataLoaderError(
            "the census data files come from the nannyml package, which is not installed. "
            f"To install it, {INSTALL_HINT}"
        )
    return folder


def _check_files(folder: Path) -> None:
    missing = [name for name in CENSUS_FILES if not (folder / name).is_file()]
    if missing:
        raise DataLoaderError(
            f"census data files missing from {folder}: {', '.join(missing)}. "
            f"To install them, {INSTALL_HINT}"
        )


@lru_cache(maxsize=2)
def load_census_frame(folder: str) -> pd.DataFrame:
    """Read all four years once per process and folder. Callers must not modify the cached result.

    Returns the columns `year`, `AGEP`, the categorical codes as strings and `employed`, in `id` order.
    """
    started = time.perf_counter()
    data_folder = Path(folder)
    _check_files(data_folder)

    reference = pd.read_parquet(data_folder / REFERENCE_FILE)
    analysis = pd.read_parquet(data_folder / ANALYSIS_FILE)
    targets = pd.read_parquet(data_folder / ANALYSIS_TARGET_FILE)
    analysis = analysis.merge(targets, on="id", how="left", validate="one_to_one")

    frame = pd.concat([reference, analysis], ignore_index=True).sort_values("id")
    frame = frame.reset_index(drop=True)
    for column in CENSUS_CATEGORICAL:
        frame[column] = frame[column].astype(str)

    logger.info(
        "read the nannyml census data from %s: %s rows in %.2f s",
        folder,
        len(frame),
        time.perf_counter() - started,
    )
    return frame[["year", *CENSUS_NUMERIC, *CENSUS_CATEGORICAL, CENSUS_TARGET]]


def _parse_year(text: str, window: str) -> int:
    stripped = text.strip()
    if not (stripped.isdigit() and len(stripped) == 4):
        raise DataLoaderError(
            f"invalid census window {window!r}: {stripped!r} is not a year. "
            "Write a year like '2018' or a range like '2016:2018'"
        )
    return int(stripped)


def parse_year_window(window: str) -> tuple[int, int]:
    """Parse "YEAR" or "FIRST:LAST" into the first and last year, both included.

    Raises `DataLoaderError` naming the window when a part is not a year, the range is reversed, or
    a year lies outside 2015 to 2018.
    """
    parts = window.split(":")
    if len(parts) > 2:
        raise DataLoaderError(
            f"invalid census window {window!r}: write one year like '2018' or 'FIRST:LAST' like '2016:2018'"
        )

    first = _parse_year(parts[0], window)
    last = _parse_year(parts[-1], window)
    if last < first:
        raise DataLoaderError(
            f"invalid census window {window!r}: its last year comes before its first"
        )
    if first < FIRST_YEAR or last > LAST_YEAR:
        raise DataLoaderError(
            f"census window {window!r} is outside the census data, which covers {FIRST_YEAR} to "
            f"{LAST_YEAR}. Choose years in that range"
        )
    return first, last


class CensusOptions(BaseModel):
    """Options of the census source, as stored in `DataSpec.options`."""

    model_config = ConfigDict(extra="forbid")

    reference_window: str = DEFAULT_REFERENCE_WINDOW
    current_window: str = DEFAULT_CURRENT_WINDOW
    task_type: TaskType = "classification"


class CensusDataLoader(BaseDataLoader):
    """Load two year windows of the Massachusetts census data with the target `employed`."""

    def __init__(
        self,
        reference_window: str = DEFAULT_REFERENCE_WINDOW,
        current_window: str = DEFAULT_CURRENT_WINDOW,
        task_type: TaskType = "classification",
        data_folder: Path | None = None,
    ) -> None:
        if task_type != "classification":
            raise DataLoaderError(
                f"the census source has only the binary target {CENSUS_TARGET!r}, so task type "
                f"{task_type!r} is not supported. Set MODEL_TASK_TYPE=classification"
            )
        self.reference_window = reference_window
        self.current_window = current_window
        self.reference_years = parse_year_window(reference_window)
        self.current_years = parse_year_window(current_window)
        self.task_type = task_type
        self.data_folder = data_folder

    @classmethod
    def from_options(cls, options: dict[str, object]) -> CensusDataLoader:
        parsed = parse_options(CensusOptions, options, "census")
        return cls(
            reference_window=parsed.reference_window,
            current_window=parsed.current_window,
            task_type=parsed.task_type,
        )

    def schema(self) -> DataSchema:
        return DataSchema(
            features=[*CENSUS_NUMERIC, *CENSUS_CATEGORICAL],
            categorical=list(CENSUS_CATEGORICAL),
            target=CENSUS_TARGET,
            timestamp=None,
        )

    def _select(self, frame: pd.DataFrame, years: tuple[int, int]) -> pd.DataFrame:
        schema = self.schema()
        columns = [*schema.features, CENSUS_TARGET]
        in_window = frame["year"].between(years[0], years[1])
        return frame.loc[in_window, columns].reset_index(drop=True)

    def load(self) -> DataWindows:
        folder = self.data_folder or census_data_folder()
        frame = load_census_frame(str(folder))
        reference = self._select(frame, self.reference_years)
        current = self._select(frame, self.current_years)
        description: dict[str, object] = {
            "source": "census",
            "data": "American Community Survey, Massachusetts, as bundled with nannyml",
            "reference_window": self.reference_window,
            "current_window": self.current_window,
            "target": f"{CENSUS_TARGET} (0 or 1)",
            "order": "no timestamp; rows keep nannyml's id order, year by year",
        }
        return DataWindows(
            reference=reference, current=current, schema=self.schema(), description=description
        )
