"""Fixtures shared by the drift tests."""

from __future__ import annotations

import pytest

from drift.engine import DriftConfig
from watchtower.settings import get_settings


@pytest.fixture(autouse=True)
def _quiet_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_TELEMETRY", "false")
    get_settings.cache_clear()


@pytest.fixture
def config() -> DriftConfig:
    """Default thresholds without Evidently, which the field cases do not need."""
    return DriftConfig(use_evidently=False)
