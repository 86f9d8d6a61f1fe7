"""The decision loop: a decision maker replies with text and tool calls, and the tools run under the rules.

One `LoopState` contains everything the loop has done. Each turn sends the conversation to the decision
maker (Claude through the Anthropic SDK, or the offline `rules` policy), stores every text block as an
`llm_reasoning` step, and runs every `tool_use` block through the tool registry, which turns unknown
tools, invalid arguments and rule violations into error results. Steps are stored as they happen, so
the run's stream shows them live. `write_summary` is always the last tool call of a run: when the
decision maker stops without it or reaches `AGENT_MAX_TURNS`, the loop forces it with `tool_choice`,
and when even that fails the service writes the summary itself from the actions taken.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anthropic

from agent.context import AgentContext, AgentOutcome
from agent.policy import RulesPolicy
from agent.prompts import (
    FORCED_AFTER_END_TURN,
    FORCED_AFTER_TURN_LIMIT,
    SYSTEM_PROMPT,
    render_first_message,
    to_data_json,
)
from agent.steps import Decision, StepKind
from agent.summary import summarize_drift, summarize_evidence
from agent.tools.base import RunProgress, ToolEnv
from agent.tools.registry import ToolCallResult, ToolRegistry, build_registry, run_tool_call
from watchtower.jsonsafe import finite_or_none
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

SUMMARY_TOOL = "write_summary"
FORCE_SUMMARY: dict[str, Any] = {"type": "tool", "name": SUMMARY_TOOL}
# Forced requests after which the service writes the summary itself.
MAX_FORCED_ATTEMPTS = 2
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class DecisionMakerError(Exception):
    """The decision maker returned no response (the Anthropic API failed after the SDK's retries)."""


class DecisionMaker(Protocol):
    @property
    def backend(self) -> Literal["claude", "rules"]: ...

    @property
    def model(self) -> str | None: ...

    def respond(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Return the next response as a Messages API dict: content, stop_reason, usage, model."""
        ...


def _normalize_usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    return {key: int(getattr(usage, key, None) or 0) for key in USAGE_KEYS}


def _wire_content(message: Any) -> list[dict[str, Any]]:
    """Return the text and tool_use blocks of an SDK message as plain request dicts."""
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            blocks.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
        else:
            logger.warning(
                "Ignoring content block of type %s in message %s", block.type, message.id
            )
    return blocks


def _with_cache_breakpoint(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A cache breakpoint on the last tool caches the whole tool list, which is the same on every turn.
    if not tools:
        return tools
    return [*tools[:-1], {**tools[-1], "cache_control": {"type": "ephemeral"}}]


class ClaudeDecisionMaker:
    """Claude through the official SDK, with prompt caching and the SDK's retries on 429, 529 and 5xx.

    The SDK reads `ANTHROPIC_BASE_URL` itself. The API key goes only to the SDK client.
    """

    backend: Literal["claude"] = "claude"

    def __init__(self, settings: Settings) -> None:
        if settings.anthropic_api_key is None:
            raise ValueError(
                "the claude decision maker needs ANTHROPIC_API_KEY; set it or use AGENT_BACKEND=rules"
            )
        self.model: str | None = settings.anthropic_model
        self._settings = settings
        self._client = anthropic.Anthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            timeout=settings.anthropic_timeout_seconds,
            max_retries=settings.anthropic_max_retries,
        )
        # NOTE: anthropic 2.17 has no sampling parameters (no `temperature`) on messages.create, so
        # runs are not pinned to temperature 0; the guardrails hold whatever the model samples.

    def respond(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: dict[str, Any] | None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self._settings.anthropic_max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "tools": _with_cache_breakpoint(tools),
            "messages": messages,
        }
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        started = time.perf_counter()
        try:
            message = self._client.messages.create(**request)
        except anthropic.APIStatusError as error:
            raise DecisionMakerError(
                f"the Anthropic API returned HTTP {error.status_code} ({error.type}: {error.api_message}) "
                f"after {self._settings.anthropic_max_retries} retries"
            ) from error
        except anthropic.APIConnectionError as error:
            raise DecisionMakerError(
                f"the Anthropic API could not be reached ({type(error).__name__}: {error}) after "
                f"{self._settings.anthropic_max_retries} retries; check ANTHROPIC_BASE_URL and the network"
            ) from error
        except anthropic.APIError as error:
            # For example a response body that does not parse as a message.
            raise DecisionMakerError(
                f"the Anthropic API request failed: {type(error).__name__}: {error}"
            ) from error
        logger.info(
            "POST messages model=%s stop_reason=%s duration=%.2fs",
            self.model,
            message.stop_reason,
            time.perf_counter() - started,
        )
        return {
            "content": _wire_content(message),
            "stop_reason": message.stop_reason,
            "usage": _normalize_usage(message.usage),
            "model": message.model,
        }


def build_decision_maker(ctx: AgentContext) -> DecisionMaker:
    """Return the decision maker the settings select (`AGENT_BACKEND`, `auto` means Claude with a key)."""
    if ctx.settings.resolved_agent_backend == "claude":
        return ClaudeDecisionMaker(ctx.settings)
    return RulesPolicy(ctx.drift_report, ctx.settings)


@dataclass
class LoopState:
    """Everything one decision loop has done: conversation, turns, token usage and actions."""

    run_id: str
    messages: list[dict[str, Any]]
    progress: RunProgress = field(default_factory=RunProgress)
    turn: int = 0
    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_KEYS, 0))
    forced_summary_reason: str | None = None
    forced_attempts: int = 0

    def add_usage(self, usage: dict[str, int]) -> None:
        for key in USAGE_KEYS:
            self.usage[key] += usage.get(key, 0)


@dataclass
class _PendingMeta:
    """Usage and duration of one response, attached to the first step stored from it only.

    The run store adds each step's usage to the run's totals, so attaching it twice would count it twice.
    """

    usage: dict[str, int] | None
    duration_ms: float | None

    def take(self) -> tuple[dict[str, int] | None, float | None]:
        usage, duration = self.usage, self.duration_ms
        self.usage, self.duration_ms = None, None
        return usage, duration


def _ask_for_summary(ctx: AgentContext, state: LoopState, note: str, reason: str) -> None:
    """Add `note` to the conversation and force `write_summary` from the next request on."""
    state.forced_summary_reason = reason
    ctx.store.add_step(ctx.run_id, StepKind.STATUS, text=f"Forcing write_summary: {reason}.")
    logger.info("Forcing write_summary for run %s: %s", ctx.run_id, reason)
    _append_user_note(state, note)


def _append_user_note(state: LoopState, note: str) -> None:
    last = state.messages[-1]
    if last["role"] == "user" and isinstance(last["content"], list):
        last["content"].append({"type": "text", "text": note})
    else:
        state.messages.append({"role": "user", "content": note})


def _ask(
    maker: DecisionMaker, state: LoopState, tools: list[dict[str, Any]]
) -> tuple[dict[str, Any], float]:
    tool_choice = FORCE_SUMMARY if state.forced_summary_reason else None
    if tool_choice is not None:
        state.forced_attempts += 1
    started = time.perf_counter()
    response = maker.respond(
        system=SYSTEM_PROMPT, messages=state.messages, tools=tools, tool_choice=tool_choice
    )
    state.turn += 1
    state.add_usage(response.get("usage") or {})
    return response, (time.perf_counter() - started) * 1000


def _record_error_result(ctx: AgentContext, name: str, result: ToolCallResult) -> None:
    rule = result.content.get("rule")
    label = (
        f"{result.content.get('error')}, rule {rule}" if rule else str(result.content.get("error"))
    )
    ctx.store.add_step(
        ctx.run_id,
        StepKind.ERROR,
        tool_name=name,
        text=f"{name} returned an error ({label}): {result.error_text}",
    )


def _run_one_call(
    ctx: AgentContext,
    registry: ToolRegistry,
    env: ToolEnv,
    block: dict[str, Any],
    meta: _PendingMeta,
    *,
    is_last: bool,
) -> dict[str, Any]:
    """Run one tool_use block, store its call and result steps, and return the tool_result block."""
    name = str(block.get("name"))
    arguments = block.get("input")
    usage, duration = meta.take()
    call_input = arguments if isinstance(arguments, dict) else {"value": arguments}
    ctx.store.add_step(
        ctx.run_id,
        StepKind.TOOL_CALL,
        tool_name=name,
        input=call_input,
        usage=usage,
        duration_ms=duration,
    )

    started = time.perf_counter()
    if name == SUMMARY_TOOL and not is_last:
        result = ToolCallResult(
            content={
                "error": "rejected",
                "rule": "summary_last",
                "message": "write_summary must be the last tool call of a response; "
                "call it again after the other results.",
            },
            is_error=True,
        )
    else:
        result = run_tool_call(registry, env, name, arguments)
    content = finite_or_none(result.content)

    ctx.store.add_step(
        ctx.run_id,
        StepKind.TOOL_RESULT,
        tool_name=name,
        output={"tool_use_id": block.get("id"), "is_error": result.is_error, "content": content},
        text=result.error_text or None,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    if result.is_error:
        _record_error_result(ctx, name, result)
    return {
        "type": "tool_result",
        "tool_use_id": block.get("id"),
        "content": to_data_json(content),
        "is_error": result.is_error,
    }


def _handle_response(
    ctx: AgentContext,
    registry: ToolRegistry,
    env: ToolEnv,
    state: LoopState,
    response: dict[str, Any],
    duration_ms: float,
) -> bool:
    """Store the response's steps, run its tool calls, and return whether it contained any."""
    content = list(response.get("content") or [])
    state.messages.append({"role": "assistant", "content": content})
    meta = _PendingMeta(usage=response.get("usage") or None, duration_ms=duration_ms)
    tool_blocks = [block for block in content if block.get("type") == "tool_use"]
    results: list[dict[str, Any]] = []

    for block in content:
        if block.get("type") == "text":
            usage, duration = meta.take()
            ctx.store.add_step(
                ctx.run_id,
                StepKind.LLM_REASONING,
                text=block["text"],
                usage=usage,
                duration_ms=duration,
            )
        elif block.get("type") == "tool_use":
            is_last = block is tool_blocks[-1]
            results.append(_run_one_call(ctx, registry, env, block, meta, is_last=is_last))

    if meta.usage is not None or not content:
        usage, duration = meta.take()
        ctx.store.add_step(
            ctx.run_id,
            StepKind.STATUS,
            text=f"The decision maker returned no content (stop_reason {response.get('stop_reason')}).",
            usage=usage,
            duration_ms=duration,
        )
    if results:
        state.messages.append({"role": "user", "content": results})
    return bool(tool_blocks)


def _run_turns(
    ctx: AgentContext, maker: DecisionMaker, registry: ToolRegistry, env: ToolEnv, state: LoopState
) -> None:
    """Ask and act until a summary is written, the turn limit is spent, or forcing gave up."""
    tools = registry.definitions()
    max_turns = ctx.settings.agent_max_turns
    while state.progress.summary is None:
        if state.forced_summary_reason is None and state.turn >= max_turns - 1:
            note = FORCED_AFTER_TURN_LIMIT.format(max_turns=max_turns)
            _ask_for_summary(ctx, state, note, f"the run reached AGENT_MAX_TURNS={max_turns}")
        if state.turn >= max_turns or state.forced_attempts >= MAX_FORCED_ATTEMPTS:
            return

        response, duration_ms = _ask(maker, state, tools)
        called_tools = _handle_response(ctx, registry, env, state, response, duration_ms)
        if called_tools:
            continue
        if state.forced_summary_reason is None:
            reason = (
                f"the decision maker ended its turn (stop_reason {response.get('stop_reason')}) "
                "without calling write_summary"
            )
            _ask_for_summary(ctx, state, FORCED_AFTER_END_TURN, reason)
        else:
            _append_user_note(state, FORCED_AFTER_END_TURN)


def _describe_actions(progress: RunProgress) -> str:
    parts = []
    if progress.retrain is not None:
        model = progress.retrain.model
        version = model.version if model else None
        parts.append(f"retrain {progress.retrain.state} (version {version})")
    elif progress.retrain_requested:
        parts.append(f"retrain failed ({progress.retrain_error})")
    if progress.eval_report is not None:
        parts.append(
            f"evaluation recommend_promotion={progress.eval_report.get('recommend_promotion')}"
        )
    if progress.promotion is not None:
        parts.append(f"promoted version {progress.promotion.champion_version}")
    return "; ".join(parts) or "no action"


def _write_service_summary(
    ctx: AgentContext, registry: ToolRegistry, env: ToolEnv, state: LoopState
) -> None:
    """Write the summary from the actions taken, because the decision maker did not write a valid one."""
    reason = state.forced_summary_reason or "the decision maker did not write a summary"
    ctx.store.add_step(
        ctx.run_id,
        StepKind.STATUS,
        text=f"The service writes the summary: no valid write_summary after {state.forced_attempts} "
        f"forced request(s) ({reason}).",
    )
    decision = state.progress.decision_so_far()
    summary = (
        f"Summary written by the service because the decision maker did not write a valid one "
        f"({reason}). Actions taken: {_describe_actions(state.progress)}."
    )
    block = {
        "type": "tool_use",
        "id": "service_summary",
        "name": SUMMARY_TOOL,
        "input": {"decision": decision.value, "summary": summary},
    }
    _run_one_call(ctx, registry, env, block, _PendingMeta(None, None), is_last=True)


def _outcome(maker: DecisionMaker, state: LoopState, *, error: str | None = None) -> AgentOutcome:
    progress = state.progress
    if error is not None:
        summary = f"The decision loop failed: {error}. Actions taken before the failure: {_describe_actions(progress)}."
        decision: Decision = Decision.FAILED
    else:
        decision = progress.decision or progress.decision_so_far()
        summary = progress.summary or ""
        if decision == Decision.FAILED:
            error = progress.retrain_error or "the retrain did not register a model version"
    return AgentOutcome(
        decision=decision.value,
        summary=summary,
        backend=maker.backend,
        model=maker.model,
        error=error,
        forced_summary_reason=state.forced_summary_reason,
        usage=dict(state.usage),
    )


def run_decision_loop(
    ctx: AgentContext, *, decision_maker: DecisionMaker | None = None
) -> AgentOutcome:
    """Run the decision loop of one run to its summary and return the decision.

    `decision_maker` defaults to the one the settings select. A failure of the Anthropic API after the
    SDK's retries ends the loop with decision `failed`; every step before it stays stored.
    """
    maker = decision_maker or build_decision_maker(ctx)
    registry = build_registry()
    evidence = summarize_evidence(ctx.windows, ctx.settings)
    summary = summarize_drift(ctx.drift_report, ctx.settings.drift_top_features, evidence)
    state = LoopState(
        run_id=ctx.run_id, messages=[{"role": "user", "content": render_first_message(summary)}]
    )
    env = ToolEnv(ctx=ctx, progress=state.progress)

    model_text = f" (model {maker.model})" if maker.model else ""
    ctx.store.add_step(
        ctx.run_id,
        StepKind.STATUS,
        text=f"Decision maker: {maker.backend}{model_text}; at most {ctx.settings.agent_max_turns} turns.",
    )
    logger.info("Decision loop started for run %s with %s%s", ctx.run_id, maker.backend, model_text)

    try:
        _run_turns(ctx, maker, registry, env, state)
    except DecisionMakerError as error:
        logger.error(
            "Decision loop failed for run %s after %s turns: %s", ctx.run_id, state.turn, error
        )
        ctx.store.add_step(ctx.run_id, StepKind.ERROR, text=f"The decision loop failed: {error}.")
        return _outcome(maker, state, error=str(error))

    if state.progress.summary is None:
        _write_service_summary(ctx, registry, env, state)
    outcome = _outcome(maker, state)
    logger.info(
        "Decision loop ended for run %s: %s after %s turns (%s input, %s output tokens)",
        ctx.run_id,
        outcome.decision,
        state.turn,
        state.usage["input_tokens"],
        state.usage["output_tokens"],
    )
    return outcome
