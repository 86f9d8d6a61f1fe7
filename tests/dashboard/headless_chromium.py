"""Drive Debian's headless Chromium over the DevTools protocol: open a page, wait for text, capture it.

Streamlit draws its pages from a websocket after the HTML has loaded. Chromium's one-shot
`--dump-dom` and `--screenshot` modes fire at the load event (and `--virtual-time-budget` does not
wait for websocket messages), so they capture an empty page skeleton. This module instead starts
Chromium with a DevTools port on 127.0.0.1 and polls the page's text in real time.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = (1400, 2000)
# Flags that keep Chromium off the network except for the page it opens.
QUIET_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
]


class DevToolsPage:
    """One Chromium tab, controlled through its DevTools websocket."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._connection.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._connection.recv(timeout=60))
            if reply.get("id") != message_id:
                continue  # an event, or the reply to an earlier call
            if "error" in reply:
                raise RuntimeError(f"DevTools {method} failed: {reply['error']}")
            return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def html(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML") or "")

    def skeleton_count(self) -> int:
        # Streamlit draws a skeleton while it loads the code of an element type on first use.
        return int(
            self.evaluate("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length") or 0
        )

    def wait_for_text(self, needles: list[str], timeout: float) -> str:
        """Poll until the page text contains every needle and no element is still loading.

        Returns the last text either way, so the caller's asserts show what the page had.
        """
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(needle in text for needle in needles) and self.skeleton_count() == 0:
                return text
            time.sleep(0.5)
        return text

    def set_viewport(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def screenshot(self, path: Path, settle_seconds: float = 3.0) -> None:
        """Save a PNG of the whole page, growing the viewport to the content's height first.

        Streamlit scrolls inside its main block, so the document is only as tall as the viewport.
        The page redraws after a resize, so the capture waits `settle_seconds` first.
        """
        height = self.evaluate(
            "(document.querySelector('[data-testid=\"stMainBlockContainer\"]') || document.body)"
            ".scrollHeight"
        )
        if int(height or 0) + 100 > VIEWPORT[1]:
            self.set_viewport(VIEWPORT[0], int(height) + 100)
            time.sleep(settle_seconds)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    # Chromium writes the port it picked for --remote-debugging-port=0 into this file.
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Chromium exited with code {process.returncode} before it was ready"
            )
        if port_file.is_file():
            lines = port_file.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        time.sleep(0.1)
    raise RuntimeError(f"Chromium did not write {port_file} within {timeout} s")


class HeadlessChromium:
    """A headless Chromium process with its DevTools endpoint on 127.0.0.1; use as a context manager."""

    def __init__(self, profile: Path, log_path: Path) -> None:
        self.profile = profile
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> HeadlessChromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        command = [
            str(CHROMIUM),
            *QUIET_FLAGS,
            f"--user-data-dir={self.profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
            "about:blank",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.port = _devtools_port(self.profile, self.process, timeout=30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def open(self, url: str) -> tuple[DevToolsPage, ClientConnection]:
        """Open `url` in a new tab and return the tab and its connection (close it when done)."""
        response = httpx.put(f"http://127.0.0.1:{self.port}/json/new?about:blank", timeout=10)
        response.raise_for_status()
        connection = connect(response.json()["webSocketDebuggerUrl"], max_size=None)
        page = DevToolsPage(connection)
        page.call("Page.enable")
        page.set_viewport(*VIEWPORT)
        page.call("Page.navigate", url=url)
        return page, connection
