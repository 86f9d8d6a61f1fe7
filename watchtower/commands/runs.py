"""`watchtower runs list` and `watchtower runs show RUN_ID`: read runs from the run store."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from agent.run_store import RunRecord, RunStore, StepRecord
from agent.steps import RunStatus

_INDENT = "    "


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _json_block(label: str, value: dict[str, Any] | None) -> list[str]:
    """Render a JSON object as one `key: value` line per top-level key, long values wrapped."""
    if not value:
        return []
    lines = [f"{_INDENT}{label}:"]
    for key, item in value.items():
        rendered = item if isinstance(item, str) else json.dumps(item, default=str)
        wrapped = textwrap.wrap(f"{key}: {rendered}", width=96, subsequent_indent=_INDENT)
        lines.extend(_INDENT * 2 + line for line in wrapped or [f"{key}:"])
    return lines


def format_step(step: StepRecord) -> str:
    """Render one step as a header line and its indented text, input and output."""
    header = f"[{step.seq}] {_time(step.created_at)} {step.kind.value}"
    if step.tool_name:
        header += f" {step.tool_name}"
    if step.duration_ms is not None:
        header += f" ({step.duration_ms:.0f} ms)"
    lines = [header]
    if step.text:
        for paragraph in step.text.splitlines() or [""]:
            wrapped = textwrap.wrap(paragraph, width=96) or [""]
            lines.extend(_INDENT + line for line in wrapped)
    lines.extend(_json_block("input", step.input))
    lines.extend(_json_block("output", step.output))
    if step.usage:
        usage = ", ".join(f"{key}={value}" for key, value in step.usage.items())
        lines.append(f"{_INDENT}usage: {usage}")
    return "\n".join(lines)


def format_run(run: RunRecord) -> str:
    maker = run.decision_backend or "-"
    if run.decision_model:
        maker += f" ({run.decision_model})"
    rows = [
        ("run", run.id),
        ("status", run.status.value),
        ("decision", run.decision.value if run.decision else "-"),
        ("model", run.model_name),
        ("dry run", "yes" if run.dry_run else "no"),
        ("trigger", run.trigger_source),
        ("triggered", _time(run.triggered_at)),
        ("started", _time(run.started_at)),
        ("finished", _time(run.finished_at)),
        ("decided by", maker),
        ("tokens", ", ".join(f"{k}={v}" for k, v in run.usage.items())),
    ]
    if run.error:
        rows.append(("error", run.error))
    lines = [f"{label + ':':<12}{value}" for label, value in rows]
    if run.summary:
        lines.append("summary:")
        lines.extend(_INDENT + line for line in textwrap.wrap(run.summary, width=96))
    return "\n".join(lines)


def _open_store() -> RunStore:
    from watchtower.settings import get_settings

    return RunStore(get_settings().database_url)


def list_runs(args: argparse.Namespace) -> int:
    store = _open_store()
    runs, total = store.list_runs(status=args.status, limit=args.limit, offset=0)
    if not runs:
        print("No runs." if args.status is None else f"No runs with status {args.status}.")
        return 0
    print(f"{'RUN ID':<38}{'STATUS':<13}{'DECISION':<24}{'DRY':<5}{'TRIGGERED (UTC)':<21}MODEL")
    for run in runs:
        decision = run.decision.value if run.decision else "-"
        dry = "yes" if run.dry_run else "no"
        triggered = _time(run.triggered_at)
        print(
            f"{run.id:<38}{run.status.value:<13}{decision:<24}{dry:<5}{triggered:<21}{run.model_name}"
        )
    if total > len(runs):
        print(f"({len(runs)} of {total} runs shown; use --limit to see more)")
    return 0


def show_run(args: argparse.Namespace) -> int:
    store = _open_store()
    run = store.get_run(args.run_id)
    if run is None:
        print(
            f"error: run {args.run_id!r} not found; list runs with `watchtower runs list`",
            file=sys.stderr,
        )
        return 1
    print(format_run(run))
    print()
    steps = store.list_steps(run.id)
    print(f"Trace ({len(steps)} steps):")
    for step in steps:
        print(format_step(step))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("runs", help="list runs or show one run's trace")
    commands = parser.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)

    list_parser = commands.add_parser("list", help="list runs, newest first")
    list_parser.add_argument(
        "--status", choices=[status.value for status in RunStatus], help="only runs in this status"
    )
    list_parser.add_argument(
        "--limit", type=int, default=50, help="maximum runs to show (default: 50)"
    )
    list_parser.set_defaults(handler=list_runs)

    show_parser = commands.add_parser(
        "show", help="show a run and its trace: reasoning, tool calls and results, in order"
    )
    show_parser.add_argument(
        "run_id", metavar="RUN_ID", help="the run id from `watchtower runs list`"
    )
    show_parser.set_defaults(handler=show_run)
