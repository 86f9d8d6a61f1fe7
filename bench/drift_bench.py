"""Benchmark the drift engine against Evidently's data drift preset and a plain scipy loop.

All three run on the same seeded frames in one invocation:

- engine: `drift.engine.detect_drift_frames` without Evidently (KS, chi-squared, PSI, Wasserstein,
  Jensen-Shannon, missing-share test, corrected verdicts).
- evidently: `Report([DataDriftPreset()])` on the same frames (evidently 0.7 API).
- scipy: a per-column loop of `scipy.stats.ks_2samp` for numeric columns and `chi2_contingency` on
  the value counts for categorical ones: p-values only.

Each contestant runs in a forked child process, so a slow one can be stopped at `--timeout` seconds.
The child times `--repeat` runs (Evidently runs once) and reports the fastest. Then it makes one more
run under `tracemalloc` for the peak memory allocated during the call. The frames themselves are not
counted, and the input size is printed beside the peak.

Usage: .venv/bin/python bench/drift_bench.py [--cases 100k 1m] [--repeat 3] [--timeout 600]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from drift.engine import DriftConfig, detect_drift_frames  # noqa: E402

CASES = {
    "100k": {"rows": 100_000, "numeric": 20, "categorical": 5},
    "1m": {"rows": 1_000_000, "numeric": 20, "categorical": 0},
}
MIB = 1024 * 1024


@dataclass
class Measurement:
    name: str
    seconds: float | None
    peak_bytes: int | None
    note: str = ""


def make_frames(
    rows: int, n_numeric: int, n_categorical: int, seed: int = 20261204
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build a reference and a current frame. Every fourth column of the current frame is shifted."""
    rng = np.random.default_rng(seed)
    reference: dict[str, object] = {}
    current: dict[str, object] = {}
    for index in range(n_numeric):
        shift = 0.3 if index % 4 == 0 else 0.0
        reference[f"num_{index}"] = rng.normal(0.0, 1.0, rows)
        current[f"num_{index}"] = rng.normal(shift, 1.0, rows)
    for index in range(n_categorical):
        labels = np.array([f"cat{index}_{value}" for value in range(5 + 5 * index)], dtype=object)
        weights = rng.dirichlet(np.ones(labels.size))
        shifted = rng.dirichlet(np.ones(labels.size)) if index % 4 == 0 else weights
        reference[f"cat_{index}"] = rng.choice(labels, rows, p=weights)
        current[f"cat_{index}"] = rng.choice(labels, rows, p=shifted)
    return pd.DataFrame(reference), pd.DataFrame(current)


def run_engine(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    detect_drift_frames(reference, current, config=DriftConfig(use_evidently=False))


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[name for name in reference.columns if name.startswith("num_")],
        categorical_columns=[name for name in reference.columns if name.startswith("cat_")],
    )
    report = Report([DataDriftPreset()], include_tests=True)
    snapshot = report.run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    snapshot.dict()


def run_scipy(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    for name in reference.columns:
        if name.startswith("num_"):
            stats.ks_2samp(reference[name].to_numpy(), current[name].to_numpy())
        else:
            counts = pd.concat(
                [reference[name].value_counts(), current[name].value_counts()], axis=1
            ).fillna(0)
            stats.chi2_contingency(counts.to_numpy().T)


CONTESTANTS: dict[str, Callable[[pd.DataFrame, pd.DataFrame], None]] = {
    "engine": run_engine,
    "evidently": run_evidently,
    "scipy": run_scipy,
}


def _measure_in_child(
    name: str, reference: pd.DataFrame, current: pd.DataFrame, repeat: int, connection: Connection
) -> None:
    function = CONTESTANTS[name]
    runs = 1 if name == "evidently" else repeat
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function(reference, current)
        times.append(time.perf_counter() - started)
    connection.send(("time", min(times)))

    tracemalloc.start()
    function(reference, current)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    connection.send(("memory", peak))


def measure(
    name: str, reference: pd.DataFrame, current: pd.DataFrame, repeat: int, timeout: float
) -> Measurement:
    """Run one contestant in a forked child and stop it after `timeout` seconds."""
    context = mp.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_measure_in_child, args=(name, reference, current, repeat, sender)
    )
    child.start()
    result = Measurement(name, None, None)
    deadline = time.monotonic() + timeout
    while result.peak_bytes is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not receiver.poll(remaining):
            result.note = f"stopped after {timeout:.0f} s"
            break
        kind, value = receiver.recv()
        if kind == "time":
            result.seconds = value
        else:
            result.peak_bytes = value
    if child.is_alive():
        child.terminate()
    child.join()
    return result


def _format(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f} {unit}"


def report_case(case: str, input_bytes: int, results: list[Measurement]) -> None:
    by_name = {item.name: item for item in results}
    engine = by_name["engine"]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\ncase {case}: input {input_bytes / MIB:.1f} MiB (reference + current), load average {load}"
    )
    print(
        f"{'contestant':<11} {'time':>10} {'peak memory':>14} {'time / engine':>14} {'peak / input':>13}  note"
    )
    for item in results:
        ratio = (
            f"{item.seconds / engine.seconds:.1f}x"
            if item.seconds is not None and engine.seconds
            else "-"
        )
        memory_ratio = (
            f"{item.peak_bytes / input_bytes:.2f}" if item.peak_bytes is not None else "-"
        )
        peak = None if item.peak_bytes is None else item.peak_bytes / MIB
        print(
            f"{item.name:<11} {_format(item.seconds, 's'):>10} {_format(peak, 'MiB'):>14} "
            f"{ratio:>14} {memory_ratio:>13}  {item.note}"
        )
    evidently = by_name.get("evidently")
    scipy_loop = by_name.get("scipy")
    if evidently and evidently.seconds and engine.seconds:
        verdict = "met" if evidently.seconds / engine.seconds >= 20 else "MISSED"
        print(
            f"target >= 20x faster than Evidently: {evidently.seconds / engine.seconds:.1f}x, {verdict}"
        )
    if scipy_loop and scipy_loop.seconds and engine.seconds:
        verdict = "met" if engine.seconds <= scipy_loop.seconds else "MISSED"
        print(
            f"target no slower than the scipy loop: engine / scipy {engine.seconds / scipy_loop.seconds:.2f}, {verdict}"
        )
    if engine.peak_bytes is not None:
        verdict = "met" if engine.peak_bytes < 3 * input_bytes else "MISSED"
        print(f"target peak memory < 3x input: {engine.peak_bytes / input_bytes:.2f}x, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs of the engine and the scipy loop"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a contestant is stopped"
    )
    parser.add_argument(
        "--skip", nargs="*", choices=list(CONTESTANTS), default=[], help="contestants to leave out"
    )
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, {platform.platform()}"
    )
    for case in args.cases:
        shape = CASES[case]
        reference, current = make_frames(shape["rows"], shape["numeric"], shape["categorical"])
        input_bytes = int(
            reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
        )
        results = []
        for name in CONTESTANTS:
            if name in args.skip:
                continue
            results.append(measure(name, reference, current, args.repeat, args.timeout))
        report_case(case, input_bytes, results)


if __name__ == "__main__":
    main()
