"""`watchtower dashboard`: the Streamlit command line and environment it starts with."""

from __future__ import annotations

from pathlib import Path

from watchtower.cli import build_parser
from watchtower.commands.dashboard import entry_script, streamlit_command, streamlit_environment


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_command_listens_on_loopback_only():
    command = streamlit_command(8601, Path("/x/Home.py"))

    assert _option(command, "--server.address") == "127.0.0.1"
    assert _option(command, "--server.port") == "8601"


def test_command_is_headless_without_usage_stats():
    command = streamlit_command(8601, Path("/x/Home.py"))

    assert _option(command, "--server.headless") == "true"
    assert _option(command, "--browser.gatherUsageStats") == "false"


def test_command_runs_the_entry_script():
    command = streamlit_command(8601, Path("/x/Home.py"))

    assert command[1:5] == ["-m", "streamlit", "run", "/x/Home.py"]


def test_environment_sets_api_url_and_telemetry_off(monkeypatch):
    monkeypatch.delenv("WATCHTOWER_DASHBOARD_API_URL", raising=False)

    environment = streamlit_environment("http://127.0.0.1:9000")

    assert environment["WATCHTOWER_DASHBOARD_API_URL"] == "http://127.0.0.1:9000"
    assert environment["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"


def test_environment_keeps_configured_url_without_flag(monkeypatch):
    monkeypatch.setenv("WATCHTOWER_DASHBOARD_API_URL", "http://127.0.0.1:9100")

    environment = streamlit_environment(None)

    assert environment["WATCHTOWER_DASHBOARD_API_URL"] == "http://127.0.0.1:9100"


def test_entry_script_exists():
    assert entry_script().is_file()
    assert (entry_script().parent / "pages" / "2_agent_trace.py").is_file()


def test_parser_defaults():
    args = build_parser().parse_args(["dashboard"])

    assert args.port == 8501
    assert args.api_url is None


def test_parser_reads_port_and_api_url():
    args = build_parser().parse_args(
        ["dashboard", "--port", "8600", "--api-url", "http://127.0.0.1:8001"]
    )

    assert args.port == 8600
    assert args.api_url == "http://127.0.0.1:8001"
