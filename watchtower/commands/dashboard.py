"""`watchtower dashboard`: start the Streamlit audit dashboard on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import dashboard

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8501


def entry_script() -> Path:
    """Return the dashboard's entry page, `dashboard/Home.py` next to the installed package."""
    return Path(next(iter(dashboard.__path__))).resolve() / "Home.py"


def streamlit_command(port: int, entry: Path) -> list[str]:
    """Build the `streamlit run` command: local address only, headless, usage statistics off."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(entry),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # Hide the developer toolbar (Deploy, rerun, settings); readers of an audit need none of it.
        "--client.toolbarMode",
        "minimal",
    ]


def streamlit_environment(api_url: str | None) -> dict[str, str]:
    """Copy the environment, with the API URL override and Streamlit's telemetry switched off."""
    environment = dict(os.environ)
    environment["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    if api_url:
        environment["WATCHTOWER_DASHBOARD_API_URL"] = api_url
    return environment


def run_dashboard(args: argparse.Namespace) -> int:
    entry = entry_script()
    if not entry.is_file():
        print(f"error: the dashboard entry script {entry} is missing", file=sys.stderr)
        return 2
    command = streamlit_command(args.port, entry)
    print(f"Dashboard at http://127.0.0.1:{args.port} (stop with Ctrl+C)", flush=True)
    logger.info("Starting the dashboard: %s", " ".join(command))
    # Replace this process with Streamlit, so that a signal sent to the PID that started the
    # dashboard (Ctrl+C, SIGTERM from a supervisor) reaches the server instead of orphaning it.
    os.execve(sys.executable, command, streamlit_environment(args.api_url))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="start the audit dashboard (Streamlit) on 127.0.0.1",
        description=(
            "Start the audit dashboard on 127.0.0.1. It reads runs, traces and reports from the "
            "watchtower API, sending WATCHTOWER_API_TOKEN when it is set."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--api-url",
        default=None,
        help="base URL of the watchtower API (default: WATCHTOWER_DASHBOARD_API_URL, "
        "else http://127.0.0.1:8000)",
    )
    parser.set_defaults(handler=run_dashboard)
