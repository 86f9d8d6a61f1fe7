"""The data-loading contract: two windows of the monitored model's data and their schema."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

import pandas as pd


@dataclass(frozen=True)
class DataSchema:
    """The role of each column in the windows.

    `features` lists every model input. `categorical` is the subset tested as categories; columns left
    out of it get their kind from the drift engine's type rule. `target` and `prediction` are excluded
    from `features`.
    """

    features: list[str]
    categorical: list[str] = field(default_factory=list)
    target: str | None = None
    prediction: str | None = None
    timestamp: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DataSchema:
        return cls(**data)  # type: ignore[arg-type]


@dataclass
class DataWindows:
    """The reference window (what the model was trained on) and the current window (recent data)."""

    reference: pd.DataFrame
    current: pd.DataFrame
    schema: DataSchema
    # Human-readable description of where the windows came from, for the audit trail.
    description: dict[str, object] = field(default_factory=dict)


class DataLoaderError(ValueError):
    """Raised when a window cannot be loaded; the message names the file, query, column or window."""


class BaseDataLoader(ABC):
    """Load the reference and current windows of the monitored model's data."""

    @abstractmethod
    def load(self) -> DataWindows:
        """Return both windows and their schema, or raise `DataLoaderError`."""
