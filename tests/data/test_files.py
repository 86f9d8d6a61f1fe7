from __future__ import annotations

import pandas as pd
import pytest

from data.base import DataLoaderError
from data.files import FileDataLoader, FileOptions
from data.spec import DataSpec, load_windows


def _frame(start: str, periods: int, offset: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "when": pd.date_range(start, periods=periods, freq="D").strftime("%Y-%m-%d"),
            "amount": [float(i) + offset for i in range(periods)],
            "colour": ["red", "blue"] * (periods // 2) + ["red"] * (periods % 2),
            "label": [i % 2 for i in range(periods)],
        }
    )


def _loader(**options: object) -> FileDataLoader:
    return FileDataLoader(FileOptions.model_validate(options))


def test_files_two_csv_paths(tmp_path) -> None:
    _frame("2024-01-01", 10).to_csv(tmp_path / "ref.csv", index=False)
    _frame("2024-02-01", 6).to_csv(tmp_path / "cur.csv", index=False)
    windows = _loader(
        reference_path=str(tmp_path / "ref.csv"),
        current_path=str(tmp_path / "cur.csv"),
        target="label",
        timestamp="when",
        categorical=["colour"],
    ).load()
    assert len(windows.reference) == 10
    assert len(windows.current) == 6
    assert windows.schema.features == ["amount", "colour"]
    assert windows.schema.categorical == ["colour"]
    assert pd.api.types.is_datetime64_any_dtype(windows.current["when"])


def test_files_parquet_glob_concatenates(tmp_path) -> None:
    _frame("2024-01-01", 4).to_parquet(tmp_path / "part-2.parquet")
    _frame("2023-12-01", 3).to_parquet(tmp_path / "part-1.parquet")
    _frame("2024-02-01", 5).to_parquet(tmp_path / "current.pq")
    windows = _loader(
        reference_path=str(tmp_path / "part-*.parquet"),
        current_path=str(tmp_path / "current.pq"),
    ).load()
    assert len(windows.reference) == 7
    assert windows.reference["when"].iloc[0] == "2023-12-01"
    assert windows.description["reference_files"] == 2


def test_files_one_set_split_by_window(tmp_path) -> None:
    _frame("2024-01-01", 91).to_csv(tmp_path / "all.csv", index=False)
    windows = _loader(
        reference_path=str(tmp_path / "all.csv"),
        timestamp="when",
        reference_window="2024-01:2024-02",
        current_window="2024-03",
    ).load()
    assert len(windows.reference) == 31 + 29
    assert len(windows.current) == 31
    assert windows.current["when"].min() == pd.Timestamp("2024-03-01")


def test_files_window_on_utc_timestamps(tmp_path) -> None:
    frame = pd.DataFrame(
        {"when": ["2024-01-31T23:30:00Z", "2024-02-01T00:30:00Z"], "amount": [1.0, 2.0]}
    )
    frame.to_csv(tmp_path / "utc.csv", index=False)
    windows = _loader(
        reference_path=str(tmp_path / "utc.csv"),
        timestamp="when",
        reference_window="2024-01",
        current_window="2024-02",
    ).load()
    assert windows.reference["amount"].tolist() == [1.0]
    assert windows.current["amount"].tolist() == [2.0]


def test_files_spec_from_settings(tmp_path) -> None:
    from watchtower.settings import Settings

    _frame("2024-01-01", 60).to_csv(tmp_path / "all.csv", index=False)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_source="files",
        data_reference_path=str(tmp_path / "all.csv"),
        data_timestamp_column="when",
        data_target_column="label",
        data_categorical_columns="colour",
    )
    spec = DataSpec.from_settings(settings, reference_window="2024-01", current_window="2024-02")
    windows = load_windows(spec)
    assert len(windows.reference) == 31
    assert len(windows.current) == 29
    assert windows.schema.target == "label"


def test_files_missing_file_named(tmp_path) -> None:
    loader = _loader(
        reference_path=str(tmp_path / "absent.csv"), current_path=str(tmp_path / "b.csv")
    )
    with pytest.raises(DataLoaderError, match="file not found: DATA_REFERENCE_PATH=.*absent.csv"):
        loader.load()


def test_files_glob_without_match_named(tmp_path) -> None:
    loader = _loader(
        reference_path=str(tmp_path / "*.parquet"), current_path=str(tmp_path / "b.csv")
    )
    with pytest.raises(DataLoaderError, match=r"no files match DATA_REFERENCE_PATH=.*\*\.parquet"):
        loader.load()


def test_files_unsupported_type_named(tmp_path) -> None:
    (tmp_path / "ref.xlsx").write_text("not a table")
    loader = _loader(
        reference_path=str(tmp_path / "ref.xlsx"), current_path=str(tmp_path / "ref.xlsx")
    )
    with pytest.raises(DataLoaderError, match="unsupported file type: .*ref.xlsx"):
        loader.load()


def test_files_unreadable_parquet_named(tmp_path) -> None:
    (tmp_path / "broken.parquet").write_text("not parquet")
    loader = _loader(
        reference_path=str(tmp_path / "broken.parquet"),
        current_path=str(tmp_path / "broken.parquet"),
    )
    with pytest.raises(DataLoaderError, match="failed to read .*broken.parquet"):
        loader.load()


def test_files_glob_with_different_columns(tmp_path) -> None:
    _frame("2024-01-01", 4).to_csv(tmp_path / "a.csv", index=False)
    _frame("2024-01-05", 4).drop(columns=["colour"]).to_csv(tmp_path / "b.csv", index=False)
    loader = _loader(reference_path=str(tmp_path / "*.csv"), current_path=str(tmp_path / "a.csv"))
    with pytest.raises(DataLoaderError, match=r"b.csv .* missing \['colour'\]"):
        loader.load()


def test_files_missing_target_column_named(tmp_path) -> None:
    _frame("2024-01-01", 4).to_csv(tmp_path / "a.csv", index=False)
    loader = _loader(
        reference_path=str(tmp_path / "a.csv"), current_path=str(tmp_path / "a.csv"), target="churn"
    )
    with pytest.raises(
        DataLoaderError, match=r"column\(s\) \['churn'\] not found in the reference"
    ):
        loader.load()


def test_files_missing_timestamp_column_named(tmp_path) -> None:
    _frame("2024-01-01", 4).to_csv(tmp_path / "a.csv", index=False)
    loader = _loader(
        reference_path=str(tmp_path / "a.csv"), current_path=str(tmp_path / "a.csv"), timestamp="ts"
    )
    with pytest.raises(DataLoaderError, match="timestamp column 'ts' not found"):
        loader.load()


def test_files_bad_timestamp_named(tmp_path) -> None:
    _frame("2024-01-01", 4).to_csv(tmp_path / "a.csv", index=False)
    loader = _loader(
        reference_path=str(tmp_path / "a.csv"),
        current_path=str(tmp_path / "a.csv"),
        timestamp="colour",
    )
    with pytest.raises(DataLoaderError, match="timestamp column 'colour' .* does not parse"):
        loader.load()


def test_files_empty_window_named(tmp_path) -> None:
    _frame("2024-01-01", 10).to_csv(tmp_path / "a.csv", index=False)
    loader = _loader(
        reference_path=str(tmp_path / "a.csv"),
        timestamp="when",
        reference_window="2024-01",
        current_window="2025-06",
    )
    with pytest.raises(DataLoaderError, match="current window '2025-06' selects no rows"):
        loader.load()


def test_files_one_set_needs_both_windows(tmp_path) -> None:
    with pytest.raises(DataLoaderError, match="without DATA_CURRENT_PATH"):
        _loader(
            reference_path=str(tmp_path / "a.csv"), timestamp="when", reference_window="2024-01"
        )


def test_files_categorical_must_be_feature(tmp_path) -> None:
    _frame("2024-01-01", 4).to_csv(tmp_path / "a.csv", index=False)
    loader = _loader(
        reference_path=str(tmp_path / "a.csv"),
        current_path=str(tmp_path / "a.csv"),
        target="label",
        categorical=["label"],
    )
    with pytest.raises(
        DataLoaderError, match=r"categorical column\(s\) \['label'\] are not features"
    ):
        loader.load()
