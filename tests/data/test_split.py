from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.base import DataLoaderError, DataSchema, DataWindows
from data.spec import DataSpec, load_windows, split_for_retraining

SPEC = DataSpec(source="synthetic", options={"rows": 400, "seed": 11, "drift": "all"})


def _windows(current: pd.DataFrame, timestamp: str | None = "ts") -> DataWindows:
    reference = pd.DataFrame(
        {"x": [0.0, 1.0], "y": [0, 1], "ts": pd.to_datetime(["2024-01-01"] * 2)}
    )
    schema = DataSchema(features=["x"], target="y", timestamp=timestamp)
    return DataWindows(reference=reference, current=current, schema=schema)


def _current(times: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": np.arange(len(times), dtype=float),
            "y": [0, 1] * (len(times) // 2) + [0] * (len(times) % 2),
            "ts": pd.to_datetime(times),
        }
    )


def test_split_parts_are_disjoint() -> None:
    split = split_for_retraining(load_windows(SPEC), 0.3)
    recent = split.train.iloc[400:]
    shared = pd.merge(recent, split.evaluation, how="inner")
    assert len(shared) == 0
    assert len(recent) + len(split.evaluation) == 400


def test_split_evaluation_later_than_recent() -> None:
    split = split_for_retraining(load_windows(SPEC), 0.3)
    recent = split.train.iloc[400:]
    assert split.evaluation["event_time"].min() > recent["event_time"].max()


def test_split_is_deterministic() -> None:
    first = split_for_retraining(load_windows(SPEC), 0.25)
    second = split_for_retraining(load_windows(SPEC), 0.25)
    pd.testing.assert_frame_equal(first.train, second.train)
    pd.testing.assert_frame_equal(first.evaluation, second.evaluation)
    assert first.training_window == second.training_window
    assert first.evaluation_window == second.evaluation_window


def test_split_holdout_size() -> None:
    split = split_for_retraining(load_windows(SPEC), 0.3)
    assert len(split.evaluation) == 120
    assert split.training_window["rows"] == 400 + 280
    assert split.training_window["reference_rows"] == 400
    assert split.training_window["recent_rows"] == 280


def test_split_recent_only() -> None:
    split = split_for_retraining(load_windows(SPEC), 0.3, train_on="recent")
    assert len(split.train) == 280
    assert split.training_window["train_on"] == "recent"
    assert split.training_window["reference_rows"] == 0


def test_split_sorts_unordered_current() -> None:
    current = _current(["2024-03-05", "2024-03-01", "2024-03-04", "2024-03-02", "2024-03-03"])
    split = split_for_retraining(_windows(current), 0.4, train_on="recent")
    assert split.train["ts"].dt.day.tolist() == [1, 2, 3]
    assert split.evaluation["ts"].dt.day.tolist() == [4, 5]


def test_split_keeps_tied_timestamps_together() -> None:
    # Six rows, 50% held out would cut inside the group of three 2024-03-02 rows.
    current = _current(
        ["2024-03-01", "2024-03-01", "2024-03-02", "2024-03-02", "2024-03-02", "2024-03-03"]
    )
    split = split_for_retraining(_windows(current), 0.5, train_on="recent")
    assert split.train["ts"].dt.day.tolist() == [1, 1]
    assert split.evaluation["ts"].dt.day.tolist() == [2, 2, 2, 3]


def test_split_tie_group_at_start_goes_to_training() -> None:
    current = _current(["2024-03-01"] * 4 + ["2024-03-02"])
    split = split_for_retraining(_windows(current), 0.9, train_on="recent")
    assert len(split.train) == 4
    assert len(split.evaluation) == 1


def test_split_all_timestamps_equal_raises() -> None:
    current = _current(["2024-03-01"] * 4)
    with pytest.raises(DataLoaderError, match="every row of the current window has the same 'ts'"):
        split_for_retraining(_windows(current), 0.5)


def test_split_without_timestamp_uses_row_order() -> None:
    current = _current(["2024-03-05", "2024-03-01", "2024-03-04", "2024-03-02"])
    split = split_for_retraining(_windows(current, timestamp=None), 0.5, train_on="recent")
    assert split.train["x"].tolist() == [0.0, 1.0]
    assert split.evaluation["x"].tolist() == [2.0, 3.0]
    assert split.evaluation_window["first_current_row"] == 2


def test_split_drops_missing_timestamps() -> None:
    current = _current(["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"])
    current.loc[1, "ts"] = pd.NaT
    split = split_for_retraining(_windows(current), 0.34, train_on="recent")
    assert split.evaluation_window["current_rows_without_timestamp"] == 1
    assert len(split.train) + len(split.evaluation) == 3


def test_split_window_bounds_are_iso_text() -> None:
    split = split_for_retraining(load_windows(SPEC), 0.3)
    assert split.evaluation_window["start"] == "2024-03-22T00:00:00"
    assert split.training_window["reference_start"] == "2024-01-01T00:00:00"


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(DataLoaderError, match="holdout fraction must be between 0 and 1"):
        split_for_retraining(load_windows(SPEC), fraction)


def test_split_rejects_unknown_train_on() -> None:
    with pytest.raises(DataLoaderError, match="unknown train_on 'everything'"):
        split_for_retraining(load_windows(SPEC), 0.3, train_on="everything")  # type: ignore[arg-type]


def test_split_rejects_one_row_current() -> None:
    with pytest.raises(DataLoaderError, match="has 1 usable rows"):
        split_for_retraining(_windows(_current(["2024-03-01"])), 0.3)


def test_split_utc_timestamps_with_repeated_index() -> None:
    current = _current(["2024-03-03", "2024-03-01", "2024-03-04", "2024-03-02"])
    current["ts"] = current["ts"].dt.tz_localize("UTC")
    current.index = [7, 7, 7, 7]
    split = split_for_retraining(_windows(current), 0.5, train_on="recent")
    assert split.train["x"].tolist() == [1.0, 3.0]
    assert split.evaluation["x"].tolist() == [0.0, 2.0]
    assert str(split.evaluation["ts"].dtype) == "datetime64[ns, UTC]"
