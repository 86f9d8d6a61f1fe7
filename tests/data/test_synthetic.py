from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.base import DataLoaderError
from data.synthetic import CATEGORICAL_FEATURES, NUMERIC_FEATURES, SyntheticDataLoader


def test_synthetic_same_seed_same_frames() -> None:
    first = SyntheticDataLoader(rows=300, seed=3, drift="all").load()
    second = SyntheticDataLoader(rows=300, seed=3, drift="all").load()
    pd.testing.assert_frame_equal(first.reference, second.reference)
    pd.testing.assert_frame_equal(first.current, second.current)


def test_synthetic_other_seed_other_frames() -> None:
    first = SyntheticDataLoader(rows=300, seed=3).load()
    second = SyntheticDataLoader(rows=300, seed=4).load()
    assert not first.reference["age"].equals(second.reference["age"])


def test_synthetic_schema_and_columns() -> None:
    windows = SyntheticDataLoader(rows=200, drift="none").load()
    schema = windows.schema
    assert schema.features == NUMERIC_FEATURES + CATEGORICAL_FEATURES
    assert schema.categorical == CATEGORICAL_FEATURES
    assert schema.target == "target"
    assert schema.timestamp == "event_time"
    assert list(windows.reference.columns) == [*schema.features, "target", "event_time"]
    assert len(windows.reference) == 200
    assert len(windows.current) == 200


def test_synthetic_current_after_reference() -> None:
    windows = SyntheticDataLoader(rows=200).load()
    assert windows.current["event_time"].min() > windows.reference["event_time"].max()
    assert windows.reference["event_time"].is_monotonic_increasing


def test_synthetic_target_depends_on_score() -> None:
    reference = SyntheticDataLoader(rows=5000, drift="none").load().reference
    high = reference.loc[reference["score"] > 1, "target"].mean()
    low = reference.loc[reference["score"] < -1, "target"].mean()
    assert set(reference["target"].unique()) == {0, 1}
    assert 0.2 < reference["target"].mean() < 0.4
    assert high > low + 0.3


def test_synthetic_regression_target_is_float() -> None:
    windows = SyntheticDataLoader(rows=500, task_type="regression").load()
    assert windows.reference["target"].dtype == np.float64
    assert windows.reference["target"].nunique() > 400


def test_synthetic_mean_shift_moves_age() -> None:
    windows = SyntheticDataLoader(rows=4000, drift="mean_shift").load()
    shift = windows.current["age"].mean() - windows.reference["age"].mean()
    assert shift == pytest.approx(8.0, abs=0.8)


def test_synthetic_none_keeps_distribution() -> None:
    windows = SyntheticDataLoader(rows=4000, drift="none").load()
    shift = windows.current["age"].mean() - windows.reference["age"].mean()
    assert abs(shift) < 0.8
    assert set(windows.current["plan"]) == set(windows.reference["plan"])


def test_synthetic_new_categories_appear() -> None:
    windows = SyntheticDataLoader(rows=2000, drift="new_categories").load()
    assert "enterprise" not in set(windows.reference["plan"])
    assert "enterprise" in set(windows.current["plan"])
    assert "partner" in set(windows.current["channel"])


def test_synthetic_missing_values_share() -> None:
    windows = SyntheticDataLoader(rows=4000, drift="missing_values").load()
    assert windows.reference["income"].isna().mean() == 0.0
    assert windows.current["income"].isna().mean() == pytest.approx(0.30, abs=0.03)
    assert windows.current["region"].isna().mean() == pytest.approx(0.20, abs=0.03)


def test_synthetic_label_shift_raises_positive_rate() -> None:
    windows = SyntheticDataLoader(rows=4000, drift="label_shift").load()
    gain = windows.current["target"].mean() - windows.reference["target"].mean()
    assert gain > 0.08


def test_synthetic_rejects_unknown_drift() -> None:
    with pytest.raises(DataLoaderError, match="unknown synthetic drift 'sideways'"):
        SyntheticDataLoader(drift="sideways")  # type: ignore[arg-type]


def test_synthetic_rejects_too_few_rows() -> None:
    with pytest.raises(DataLoaderError, match="at least 10, got 3"):
        SyntheticDataLoader(rows=3)
