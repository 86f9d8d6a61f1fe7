"""Properties of the engine's verdicts, its type rule and its entry points."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data.base import DataSchema, DataWindows
from drift.columns import DriftInputError
from drift.engine import DriftConfig, detect_drift, detect_drift_frames
from drift.report import DriftReport
from watchtower.settings import Settings


def _frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, rows),
            "income": rng.lognormal(10 + shift, 0.5, rows),
            "score": rng.uniform(0, 1 + shift, rows),
            "channel": rng.choice(
                ["web", "app", "shop"], rows, p=[0.5, 0.3, 0.2] if not shift else [0.2, 0.3, 0.5]
            ),
            "visits": rng.integers(0, 5, rows),
        }
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def test_identical_data_does_not_drift(rng: np.random.Generator, config: DriftConfig) -> None:
    frame = _frame(rng, 2_000)
    report = detect_drift_frames(frame, frame.copy(), config=config)
    assert report.dataset.drifted is False
    assert report.dataset.n_drifted == 0
    assert all(item.p_value == 1.0 for item in report.features)


def test_same_distribution_does_not_drift(rng: np.random.Generator, config: DriftConfig) -> None:
    report = detect_drift_frames(_frame(rng, 5_000), _frame(rng, 5_000), config=config)
    assert report.dataset.drifted is False


def test_shifted_data_drifts(rng: np.random.Generator, config: DriftConfig) -> None:
    report = detect_drift_frames(_frame(rng, 5_000), _frame(rng, 5_000, shift=1.0), config=config)
    assert report.dataset.drifted is True
    assert set(report.top_drifted) == {"age", "income", "score", "channel"}


def test_top_drifted_sorted_by_effect_size(rng: np.random.Generator, config: DriftConfig) -> None:
    report = detect_drift_frames(_frame(rng, 5_000), _frame(rng, 5_000, shift=1.0), config=config)
    effects = [report.feature(name).effect_size for name in report.top_drifted]
    assert effects == sorted(effects, reverse=True)


def test_top_drifted_limited_to_top_n(rng: np.random.Generator) -> None:
    config = DriftConfig(use_evidently=False, top_n=2)
    report = detect_drift_frames(_frame(rng, 5_000), _frame(rng, 5_000, shift=1.0), config=config)
    assert len(report.top_drifted) == 2


def test_tiny_shift_in_huge_sample_is_not_drift(
    rng: np.random.Generator, config: DriftConfig
) -> None:
    reference = pd.DataFrame({"x": rng.normal(0.0, 1.0, 400_000)})
    current = pd.DataFrame({"x": rng.normal(0.02, 1.0, 400_000)})
    x = detect_drift_frames(reference, current, config=config).feature("x")
    assert x.p_value is not None and x.p_value < 1e-6
    assert x.psi is not None and x.psi < config.psi_threshold
    assert x.drifted is False


def test_bonferroni_threshold_in_report(rng: np.random.Generator) -> None:
    config = DriftConfig(use_evidently=False, correction="bonferroni", alpha=0.05)
    report = detect_drift_frames(_frame(rng, 1_000), _frame(rng, 1_000), config=config)
    assert report.dataset.n_tested == 5
    assert all(item.p_value_threshold == pytest.approx(0.05 / 5) for item in report.features)


def test_dataset_drift_at_feature_threshold(rng: np.random.Generator) -> None:
    reference = _frame(rng, 3_000)
    current = reference.copy()
    current["age"] = current["age"] + 30
    # One drifted feature of five is a share of 0.2.
    at_threshold = detect_drift_frames(reference, current, config=DriftConfig(use_evidently=False))
    above_threshold = detect_drift_frames(
        reference, current, config=DriftConfig(use_evidently=False, feature_threshold=0.21)
    )
    assert at_threshold.dataset.drift_share == pytest.approx(0.2)
    assert at_threshold.dataset.drifted is True
    assert above_threshold.dataset.drifted is False


def test_small_integer_column_is_categorical(rng: np.random.Generator, config: DriftConfig) -> None:
    frame = _frame(rng, 500)
    report = detect_drift_frames(frame, frame.copy(), config=config)
    assert report.feature("visits").kind == "categorical"


def test_categorical_override_for_numeric(rng: np.random.Generator, config: DriftConfig) -> None:
    reference = pd.DataFrame({"code": rng.integers(0, 40, 1_000)})
    plain = detect_drift_frames(reference, reference.copy(), config=config)
    listed = detect_drift_frames(reference, reference.copy(), categorical=["code"], config=config)
    assert plain.feature("code").kind == "numeric"
    assert listed.feature("code").kind == "categorical"


def test_whole_floats_with_missing_are_categorical(config: DriftConfig) -> None:
    reference = pd.DataFrame({"flag": [0, 1] * 50})
    current = pd.DataFrame({"flag": [0.0, 1.0, np.nan] * 30})
    flag = detect_drift_frames(reference, current, config=config).feature("flag")
    assert flag.kind == "categorical"
    assert flag.new_categories == []


def test_mixed_object_column_compared_as_strings(config: DriftConfig) -> None:
    reference = pd.DataFrame({"code": pd.Series([1, "1", "a", 2.5] * 10, dtype=object)})
    current = pd.DataFrame({"code": pd.Series(["1", 1, "a", "2.5"] * 10, dtype=object)})
    code = detect_drift_frames(reference, current, config=config).feature("code")
    assert code.kind == "categorical"
    assert code.p_value == 1.0


def test_datetime_column_skipped(config: DriftConfig) -> None:
    stamps = pd.date_range("2024-01-01", periods=20, freq="h")
    frame = pd.DataFrame({"at": stamps, "x": np.arange(20.0)})
    report = detect_drift_frames(frame, frame.copy(), config=config)
    assert [item.name for item in report.skipped] == ["at"]
    assert "numeric" in report.skipped[0].reason


def test_datetime_column_tested_when_listed_numeric(config: DriftConfig) -> None:
    reference = pd.DataFrame({"at": pd.date_range("2024-01-01", periods=50, freq="h")})
    current = pd.DataFrame({"at": pd.date_range("2024-03-01", periods=50, freq="h")})
    at = detect_drift_frames(reference, current, numeric=["at"], config=config).feature("at")
    assert at.kind == "numeric"
    assert at.statistic == 1.0


def test_column_in_one_window_skipped(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": np.arange(10.0), "old": np.arange(10.0)})
    current = pd.DataFrame({"x": np.arange(10.0), "new": np.arange(10.0)})
    report = detect_drift_frames(reference, current, config=config)
    reasons = {item.name: item.reason for item in report.skipped}
    assert reasons == {"old": "only in the reference window", "new": "only in the current window"}


def test_unknown_categorical_column_raises(config: DriftConfig) -> None:
    frame = pd.DataFrame({"x": np.arange(10.0)})
    with pytest.raises(
        DriftInputError, match="categorical column 'colour' is not in the reference window"
    ):
        detect_drift_frames(frame, frame.copy(), categorical=["colour"], config=config)


def test_column_in_both_override_lists_raises(config: DriftConfig) -> None:
    frame = pd.DataFrame({"x": np.arange(10.0)})
    with pytest.raises(DriftInputError, match=r"both as categorical and as numeric: \['x'\]"):
        detect_drift_frames(frame, frame.copy(), categorical=["x"], numeric=["x"], config=config)


def test_text_listed_numeric_raises(config: DriftConfig) -> None:
    frame = pd.DataFrame({"city": ["Oslo", "Rome"] * 5})
    with pytest.raises(
        DriftInputError, match="column 'city' in the reference window is listed as numeric"
    ):
        detect_drift_frames(frame, frame.copy(), numeric=["city"], config=config)


def test_missing_target_column_raises(config: DriftConfig) -> None:
    frame = pd.DataFrame({"x": np.arange(10.0)})
    with pytest.raises(
        DriftInputError, match="target column 'label' is not in the reference window"
    ):
        detect_drift_frames(frame, frame.copy(), target="label", config=config)


def test_unlabelled_current_target_is_a_warning(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": np.arange(10.0), "y": [0, 1] * 5})
    current = pd.DataFrame({"x": np.arange(10.0), "y": [np.nan] * 10})
    report = detect_drift_frames(reference, current, target="y", config=config)
    assert report.target is None
    assert any("target drift not computed" in warning for warning in report.warnings)


def test_numeric_target_uses_ks(rng: np.random.Generator, config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": rng.normal(size=500), "price": rng.normal(100, 10, 500)})
    current = pd.DataFrame({"x": rng.normal(size=500), "price": rng.normal(130, 10, 500)})
    target = detect_drift_frames(reference, current, target="price", config=config).target
    assert target is not None
    assert target.kind == "numeric"
    assert target.method == "ks"
    assert target.drifted is True
    assert sum(target.reference_distribution.values()) == pytest.approx(1.0)


def test_prediction_drift_reported(rng: np.random.Generator, config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": rng.normal(size=300), "pred": [0] * 250 + [1] * 50})
    current = pd.DataFrame({"x": rng.normal(size=300), "pred": [0] * 150 + [1] * 150})
    report = detect_drift_frames(reference, current, prediction="pred", config=config)
    assert report.prediction is not None
    assert report.prediction.drifted is True
    assert [item.name for item in report.features] == ["x"]


def test_report_round_trips_through_json(rng: np.random.Generator, config: DriftConfig) -> None:
    reference = _frame(rng, 500)
    reference["y"] = rng.integers(0, 2, 500)
    current = _frame(rng, 500, shift=1.0)
    current["y"] = rng.integers(0, 2, 500)
    report = detect_drift_frames(reference, current, target="y", config=config)
    restored = DriftReport.from_dict(json.loads(report.to_json()))
    assert restored.to_dict() == report.to_dict()


def test_detect_drift_uses_schema(rng: np.random.Generator, config: DriftConfig) -> None:
    reference = _frame(rng, 1_000)
    current = _frame(rng, 1_000, shift=1.0)
    reference["label"] = rng.integers(0, 2, 1_000)
    current["label"] = rng.integers(0, 2, 1_000)
    schema = DataSchema(
        features=["age", "channel", "visits"], categorical=["channel"], target="label"
    )
    report = detect_drift(DataWindows(reference, current, schema), config)
    assert [item.name for item in report.features] == ["age", "channel", "visits"]
    assert report.target is not None


def test_detect_drift_missing_feature_raises(rng: np.random.Generator, config: DriftConfig) -> None:
    frame = _frame(rng, 100)
    schema = DataSchema(features=["age", "height"])
    with pytest.raises(
        DriftInputError, match="feature column 'height' is not in the reference window"
    ):
        detect_drift(DataWindows(frame, frame.copy(), schema), config)


def test_config_from_settings() -> None:
    settings = Settings(
        drift_alpha=0.01,
        drift_correction="bonferroni",
        drift_psi_threshold=0.3,
        drift_feature_threshold=0.5,
        drift_top_features=3,
        drift_missing_share_change=0.2,
    )
    config = DriftConfig.from_settings(settings)
    assert (config.alpha, config.correction, config.psi_threshold) == (0.01, "bonferroni", 0.3)
    assert (config.feature_threshold, config.top_n, config.min_missing_share_change) == (
        0.5,
        3,
        0.2,
    )
    assert config.use_evidently is True


def test_config_unknown_correction_raises() -> None:
    with pytest.raises(ValueError, match="unknown correction 'holm'"):
        DriftConfig(correction="holm")  # type: ignore[arg-type]


def test_evidently_verdicts_attached(rng: np.random.Generator) -> None:
    reference = _frame(rng, 1_000)
    current = _frame(rng, 1_000, shift=1.0)
    reference["y"] = [0] * 800 + [1] * 200
    current["y"] = [0] * 500 + [1] * 500
    report = detect_drift_frames(
        reference, current, target="y", config=DriftConfig(use_evidently=True)
    )
    age = report.feature("age")
    assert age.evidently is not None
    assert set(age.evidently) == {"method", "score", "threshold", "drifted"}
    assert age.evidently["drifted"] is True
    assert report.evidently is not None
    assert report.evidently["n_columns"] == 5
    assert report.evidently["share_threshold"] == 0.2
    assert report.target is not None
    assert report.target.evidently is not None
    assert report.target.evidently["drifted"] is True


def test_evidently_off_leaves_fields_empty(rng: np.random.Generator, config: DriftConfig) -> None:
    report = detect_drift_frames(_frame(rng, 200), _frame(rng, 200), config=config)
    assert report.evidently is None
    assert all(item.evidently is None for item in report.features)


@pytest.mark.parametrize("dtype", ["object", "string", "category", "float64", "Int64"])
def test_empty_column_skipped_for_dtype(dtype: str, config: DriftConfig) -> None:
    empty = pd.Series([None] * 6, dtype=dtype)
    frame = pd.DataFrame({"x": np.arange(6.0), "blank": empty})
    report = detect_drift_frames(frame, frame.copy(), config=config)
    assert [item.name for item in report.skipped] == ["blank"]


def test_string_dtype_column_is_categorical(config: DriftConfig) -> None:
    reference = pd.DataFrame({"city": pd.Series(["Oslo", "Rome", None] * 10, dtype="string")})
    current = pd.DataFrame({"city": pd.Series(["Oslo", "Lima"] * 15, dtype="string")})
    city = detect_drift_frames(reference, current, config=config).feature("city")
    assert city.kind == "categorical"
    assert city.new_categories == ["Lima"]
    assert city.missing_share_reference == pytest.approx(1 / 3)
