"""The tool registry and the one function that runs a tool call whatever its arguments are.

Each tool module exposes a `TOOLS` list. To add tools, write a module with its own `TOOLS` list and
append its import path to `TOOL_MODULES`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agent.tools.base import Tool, ToolEnv, ToolError, ToolRejected

logger = logging.getLogger(__name__)

TOOL_MODULES: tuple[str, ...] = (
    "agent.tools.drift_tools",
    "agent.tools.retrain_tools",
    "agent.tools.eval_tools",
    "agent.tools.summary_tools",
    "agent.tools.performance_tools",
)


@dataclass
class ToolCallResult:
    """Result of one tool call: the content for the model and whether it is an error."""

    content: dict[str, Any]
    is_error: bool

    @property
    def error_text(self) -> str:
        return str(self.content.get("message", "")) if self.is_error else ""


class ToolRegistry:
    """The tools the decision maker may call, by name, in registration order."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(
                    f"tool {tool.name!r} is registered twice; each tool name must be unique"
                )
            self._tools[tool.name] = tool

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def definitions(self) -> list[dict[str, Any]]:
        """Return every tool in the Messages API format."""
        return [tool.definition() for tool in self._tools.values()]


def build_registry(modules: Iterable[str] = TOOL_MODULES) -> ToolRegistry:
    """Import each tool module and register its `TOOLS`."""
    tools: list[Tool] = []
    for module_name in modules:
        tools.extend(importlib.import_module(module_name).TOOLS)
    return ToolRegistry(tools)


def _validation_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in item["loc"]) or "(input)", "message": item["msg"]}
        for item in error.errors()
    ]


def _error(kind: str, message: str, **extra: Any) -> ToolCallResult:
    return ToolCallResult(content={"error": kind, "message": message, **extra}, is_error=True)


def run_tool_call(
    registry: ToolRegistry, env: ToolEnv, name: str, arguments: Any
) -> ToolCallResult:
    """Validate the arguments and run the tool; every failure becomes an error result, never an exception.

    Bugs inside a tool still raise: only unknown tools, invalid arguments, rule rejections and
    `ToolError`s raised by tools are turned into error results.
    """
    env.progress.tool_calls.append(name)
    tool = registry.get(name)
    if tool is None:
        return _error(
            "unknown_tool",
            f"tool {name!r} does not exist; the available tools are {registry.names}.",
        )
    try:
        args = tool.input_model.model_validate(arguments if arguments is not None else {})
    except ValidationError as error:
        return _error(
            "invalid_input",
            f"the arguments of {name} are invalid; fix the listed fields and call it again.",
            details=_validation_errors(error),
        )
    try:
        return ToolCallResult(content=tool.run(env, args), is_error=False)
    except ToolRejected as error:
        logger.info("Rejected %s for run %s by rule %s", name, env.ctx.run_id, error.rule)
        return _error(error.kind, str(error), rule=error.rule)
    except ToolError as error:
        return _error(error.kind, str(error))
