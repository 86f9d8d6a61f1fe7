"""Conversion of results to JSON that strict parsers accept."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """Replace NaN and infinity by None, recursively through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value
