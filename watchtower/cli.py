"""The `watchtower` command line.

Each subcommand lives in its own module under `watchtower/commands/` and exposes
`register(subparsers)`, which adds its parser and sets `handler` to a function that takes the parsed
arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from watchtower import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchtower",
        description="Watch a production model for drift; retrain, evaluate and promote it when it helps.",
    )
    parser.add_argument(
        "--log-level", default=None, help="logging level (DEBUG, INFO, WARNING, ERROR)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2

    logging.basicConfig(
        level=(args.log_level or "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # The reader of stdout went away (`watchtower runs show ID | head`): stop quietly, and point
        # stdout at devnull so that Python's final flush raises no second error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
