"""End to end in a real browser: `watchtower dashboard` against a real API, read by headless Chromium.

Skipped only when /usr/bin/chromium is missing outside CI; in CI (CI=true) a missing browser fails.
The screenshot and the page's HTML are saved under test-artifacts/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from headless_chromium import CHROMIUM, HeadlessChromium
from live_api import API_TOKEN, REPO_ROOT, SeededApi, free_port, quiet_environment, stop_process

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "test-artifacts"
DASHBOARD_START_TIMEOUT_SECONDS = 60.0
PAGE_TIMEOUT_SECONDS = 90.0


def _require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`")
    pytest.skip(f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`")


def _plain(text: str) -> str:
    """Drop Markdown emphasis and code marks and collapse whitespace, as the rendered page does."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`#>]", "", text)).strip()


def _wait_for_dashboard(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + DASHBOARD_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited early; log:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the dashboard at {url} did not start; log:\n{log_path.read_text()}")


@pytest.fixture
def dashboard_url(seeded_api: SeededApi, tmp_path: Path) -> Iterator[str]:
    """Start `watchtower dashboard` on a free 127.0.0.1 port against the seeded API."""
    port = free_port()
    log_path = tmp_path / "dashboard.log"
    environment = quiet_environment({"WATCHTOWER_API_TOKEN": API_TOKEN})
    command = [
        sys.executable,
        "-m",
        "watchtower.cli",
        "dashboard",
        "--port",
        str(port),
        "--api-url",
        seeded_api.server.url,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_dashboard(url, process, log_path)
        yield url
    finally:
        stop_process(process)


def test_browser_trace_shows_reasoning_and_summary(
    seeded_api: SeededApi, dashboard_url: str, tmp_path: Path
):
    _require_chromium()
    with seeded_api.server.client() as client:
        run = client.get(f"/pipeline/status/{seeded_api.full_run_id}").json()
    reasoning = [step["text"] for step in run["steps"] if step["kind"] == "llm_reasoning"]
    needles = [_plain(text)[:80] for text in reasoning] + [_plain(run["summary"] or "")[:80]]
    ARTIFACTS.mkdir(exist_ok=True)

    with HeadlessChromium(tmp_path / "profile", tmp_path / "chromium.log") as chromium:
        page, connection = chromium.open(f"{dashboard_url}/agent_trace?run_id={run['run_id']}")
        try:
            page_text = _plain(page.wait_for_text(needles + ["Summary"], PAGE_TIMEOUT_SECONDS))
            page.screenshot(ARTIFACTS / "dashboard_trace.png")
            (ARTIFACTS / "dashboard_trace.html").write_text(page.html())
        finally:
            connection.close()

    assert reasoning, "the full run stored no reasoning step"
    assert run["summary"], "the full run stored no summary"
    for needle in needles:
        assert needle in page_text
    assert (ARTIFACTS / "dashboard_trace.png").stat().st_size > 0
