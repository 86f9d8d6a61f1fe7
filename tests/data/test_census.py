"""The census loader on the real files bundled with nannyml 0.13.1, and its window parsing.

Expected counts and rates are computed in the tests with plain pandas on the three Parquet files,
and the per-year row counts of the 0.13.1 files are also written out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from data.base import DataLoaderError
from data.census import CensusDataLoader, nannyml_data_folder, parse_year_window
from data.spec import DataSpec, create_loader, load_windows, split_for_retraining
from watchtower.settings import Settings

CATEGORICAL = [
    "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
    "DREM", "SEX", "RAC1P",
]  # fmt: skip
ROWS_BY_YEAR_0_13_1 = {2015: 68785, 2016: 69126, 2017: 69635, 2018: 70131}


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def data_folder() -> Path:
    folder = nannyml_data_folder()
    if folder is None:
        pytest.fail("nannyml's data files are not installed; run `make venv`")
    return folder


@pytest.fixture(scope="module")
def raw_rows(data_folder: Path) -> pd.DataFrame:
    """Every row with its year and target, read with plain pandas."""
    reference = pd.read_parquet(data_folder / "employment_MA_reference.pq")
    analysis = pd.read_parquet(data_folder / "employment_MA_analysis.pq")
    targets = pd.read_parquet(data_folder / "employment_MA_analysis_target.pq")
    analysis = analysis.set_index("id").join(targets.set_index("id")).reset_index()
    columns = ["id", "year", "AGEP", "employed"]
    return pd.concat([reference[columns], analysis[columns]], ignore_index=True)


@pytest.fixture(scope="module")
def census_windows():
    return CensusDataLoader("2015", "2016:2018").load()


def test_census_files_are_version_0_13_1(raw_rows: pd.DataFrame) -> None:
    assert raw_rows["year"].value_counts().to_dict() == ROWS_BY_YEAR_0_13_1


@pytest.mark.parametrize("year", [2015, 2016, 2017, 2018])
def test_census_rows_per_year(year: int, raw_rows: pd.DataFrame) -> None:
    windows = CensusDataLoader(str(year), str(year)).load()
    assert len(windows.reference) == (raw_rows["year"] == year).sum()
    assert len(windows.current) == (raw_rows["year"] == year).sum()


def test_census_year_range_rows(census_windows, raw_rows: pd.DataFrame) -> None:
    assert len(census_windows.reference) == (raw_rows["year"] == 2015).sum()
    assert len(census_windows.current) == raw_rows["year"].between(2016, 2018).sum()


def test_census_target_rate(census_windows, raw_rows: pd.DataFrame) -> None:
    reference_rate = raw_rows.loc[raw_rows["year"] == 2015, "employed"].mean()
    current_rate = raw_rows.loc[raw_rows["year"] >= 2016, "employed"].mean()
    assert census_windows.reference["employed"].mean() == pytest.approx(reference_rate)
    assert census_windows.current["employed"].mean() == pytest.approx(current_rate)


def test_census_target_has_no_missing_values(census_windows) -> None:
    assert census_windows.reference["employed"].isin([0, 1]).all()
    assert census_windows.current["employed"].isin([0, 1]).all()


def test_census_schema(census_windows) -> None:
    schema = census_windows.schema
    assert schema.features == ["AGEP", *CATEGORICAL]
    assert schema.categorical == CATEGORICAL
    assert schema.target == "employed"
    assert schema.timestamp is None
    assert schema.prediction is None


def test_census_columns(census_windows) -> None:
    expected = ["AGEP", *CATEGORICAL, "employed"]
    assert list(census_windows.reference.columns) == expected
    assert list(census_windows.current.columns) == expected


@pytest.mark.parametrize("column", CATEGORICAL)
def test_census_categorical_is_string(census_windows, column: str) -> None:
    values = census_windows.current[column]
    assert not isinstance(values.dtype, pd.CategoricalDtype)
    assert values.map(type).eq(str).all()


def test_census_age_is_numeric(census_windows) -> None:
    assert pd.api.types.is_float_dtype(census_windows.current["AGEP"])


def test_census_rows_keep_id_order(census_windows, raw_rows: pd.DataFrame) -> None:
    in_id_order = raw_rows.loc[raw_rows["year"] >= 2016].sort_values("id")
    assert census_windows.current["AGEP"].tolist() == in_id_order["AGEP"].tolist()
    assert census_windows.current["employed"].tolist() == in_id_order["employed"].tolist()


def test_census_description(census_windows) -> None:
    assert census_windows.description["source"] == "census"
    assert census_windows.description["reference_window"] == "2015"
    assert census_windows.description["current_window"] == "2016:2018"


@pytest.mark.parametrize(
    ("window", "years"),
    [("2015", (2015, 2015)), ("2016:2018", (2016, 2018)), (" 2016 : 2017 ", (2016, 2017))],
)
def test_parse_year_window_valid(window: str, years: tuple[int, int]) -> None:
    assert parse_year_window(window) == years


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("2018-07", "'2018-07' is not a year"),
        ("18", "'18' is not a year"),
        ("", "'' is not a year"),
        ("2016:", "'' is not a year"),
        ("2015:2016:2017", "write one year like '2018'"),
        ("2018:2016", "its last year comes before its first"),
        ("2014", "outside the census data, which covers 2015 to 2018"),
        ("2017:2019", "outside the census data, which covers 2015 to 2018"),
    ],
)
def test_parse_year_window_invalid(window: str, message: str) -> None:
    with pytest.raises(DataLoaderError, match=message):
        parse_year_window(window)


def test_census_loader_rejects_year_outside_data() -> None:
    with pytest.raises(DataLoaderError, match="census window '2019'"):
        CensusDataLoader(current_window="2019")


def test_census_loader_rejects_regression() -> None:
    with pytest.raises(DataLoaderError, match="Set MODEL_TASK_TYPE=classification"):
        CensusDataLoader(task_type="regression")


def test_census_missing_files_name_the_fix(tmp_path: Path) -> None:
    loader = CensusDataLoader(data_folder=tmp_path)
    with pytest.raises(DataLoaderError) as raised:
        loader.load()
    assert "employment_MA_analysis_target.pq" in str(raised.value)
    assert "run `make venv`, which installs the nannyml wheel without its dependencies" in str(
        raised.value
    )


def test_census_from_options_rejects_unknown_option() -> None:
    with pytest.raises(DataLoaderError, match="invalid options for the census source: year"):
        CensusDataLoader.from_options({"year": "2016"})


def test_spec_census_default_windows() -> None:
    spec = DataSpec.from_settings(_settings(data_source="census"))
    assert spec.options == {
        "reference_window": "2015",
        "current_window": "2018",
        "task_type": "classification",
    }


def test_spec_census_override_wins() -> None:
    settings = _settings(data_source="census", data_current_window="2017")
    spec = DataSpec.from_settings(settings, current_window="2016:2018")
    assert spec.options["current_window"] == "2016:2018"


def test_spec_census_settings_window_used() -> None:
    settings = _settings(data_source="census", data_current_window="2017")
    spec = DataSpec.from_settings(settings)
    assert spec.options["current_window"] == "2017"


def test_spec_census_rejects_month_window() -> None:
    with pytest.raises(DataLoaderError, match="'2013-07' is not a year"):
        DataSpec.from_settings(_settings(data_source="census"), current_window="2013-07")


def test_spec_census_rejects_regression() -> None:
    settings = _settings(data_source="census", model_task_type="regression")
    with pytest.raises(DataLoaderError, match="DATA_SOURCE=census has only the binary target"):
        DataSpec.from_settings(settings)


def test_spec_census_round_trips_through_json() -> None:
    spec = DataSpec.from_settings(_settings(data_source="census"), reference_window="2015:2016")
    restored = DataSpec.model_validate(json.loads(json.dumps(spec.to_json_dict())))
    assert restored == spec
    assert isinstance(create_loader(restored), CensusDataLoader)


def test_load_windows_census(raw_rows: pd.DataFrame) -> None:
    windows = load_windows(DataSpec(source="census", options={"current_window": "2017"}))
    assert len(windows.reference) == (raw_rows["year"] == 2015).sum()
    assert len(windows.current) == (raw_rows["year"] == 2017).sum()


def test_census_split_holds_out_last_rows(census_windows) -> None:
    split = split_for_retraining(census_windows, holdout_fraction=0.2)
    assert len(split.evaluation) == round(len(census_windows.current) * 0.2)
    last_rows = census_windows.current.tail(len(split.evaluation)).reset_index(drop=True)
    pd.testing.assert_frame_equal(split.evaluation.reset_index(drop=True), last_rows)
