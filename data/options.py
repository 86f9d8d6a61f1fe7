"""Validation of a source's options, with errors that name the bad option."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from data.base import DataLoaderError

OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], options: dict[str, Any], source: str) -> OptionsT:
    """Validate `options` against `model`, raising `DataLoaderError` that lists each invalid option."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors()
        )
        raise DataLoaderError(f"invalid options for the {source} source: {problems}") from exc
