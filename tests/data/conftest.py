"""Shared set-up for the data tests: no telemetry from evidently or mlflow if a test imports them."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_TELEMETRY", "false")
