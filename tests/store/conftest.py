from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.run_store import RunStore


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def store(database_url: str) -> Iterator[RunStore]:
    run_store = RunStore(database_url)
    yield run_store
    run_store.close()
