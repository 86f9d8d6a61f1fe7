"""Server-sent events for one run: stored steps first, then new ones, then an `end` event.

The stream reads from the run store, so it works with several API workers and after a restart.
Writes made in this process wake the stream at once through `StepSignal`; writes made by other
processes are picked up by polling every `poll_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator

from anyio import to_thread
from sse_starlette import ServerSentEvent

from agent.run_store import RunRecord, RunStore, StepRecord
from api.schemas import RunEnd, StepPublic

logger = logging.getLogger(__name__)


class StepSignal:
    """Wakes the streams of a run when this process writes to it; `notify` is safe from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, run_id: str) -> None:
        if run_id not in self._events:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed during shutdown
            self._loop.call_soon_threadsafe(self._wake, run_id)

    def _wake(self, run_id: str) -> None:
        for event in self._events.get(run_id, ()):
            event.set()

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._events[run_id].add(event)
        try:
            yield event
        finally:
            self._events[run_id].discard(event)
            if not self._events[run_id]:
                del self._events[run_id]


def step_event(step: StepRecord) -> ServerSentEvent:
    data = StepPublic.from_record(step).model_dump_json()
    return ServerSentEvent(data=data, event="step", id=str(step.seq))


def end_event(run: RunRecord) -> ServerSentEvent:
    data = RunEnd(
        run_id=run.id,
        status=run.status,
        decision=run.decision,
        error=run.error,
        summary=run.summary,
    ).model_dump_json()
    return ServerSentEvent(data=data, event="end")


async def run_events(
    store: RunStore,
    signal: StepSignal,
    run_id: str,
    after_seq: int,
    poll_seconds: float,
) -> AsyncIterator[ServerSentEvent]:
    """Yield the run's steps after `after_seq` as they are stored, then one `end` event."""
    last_seq = after_seq
    with signal.subscribe(run_id) as wakeup:
        while True:
            # Clear before reading, so a write during the read wakes the next wait.
            wakeup.clear()
            for step in await to_thread.run_sync(store.list_steps, run_id, last_seq):
                yield step_event(step)
                last_seq = step.seq

            run = await to_thread.run_sync(store.get_run, run_id)
            if run is None or not run.is_active:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=poll_seconds)

    # Steps stored between the last read and the run's end come before the end event.
    for step in await to_thread.run_sync(store.list_steps, run_id, last_seq):
        yield step_event(step)
    if run is not None:
        yield end_event(run)
    logger.debug("Stream of run %s ended after seq %s", run_id, last_seq)
