"""A thread pool for pipeline runs, so drift detection and training run outside the event loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from agent.context import AgentContext, AgentOutcome
from agent.pipeline import execute_run
from agent.run_store import RunStore
from agent.steps import RunStatus, StepKind
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

DecideFunction = Callable[[AgentContext], AgentOutcome]


class RunLauncher:
    """A bounded pool of worker threads for `execute_run`.

    Runs beyond `max_concurrent_runs` wait in the pool's queue and stay `queued` in the store until a
    worker picks them up.
    """

    def __init__(
        self,
        store: RunStore,
        *,
        max_concurrent_runs: int = 4,
        decide: DecideFunction | None = None,
    ) -> None:
        self.store = store
        self.decide = decide
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrent_runs, thread_name_prefix="watchtower-run"
        )
        self._pending: dict[str, Future[None]] = {}

    def submit(self, run_id: str, settings: Settings, request: dict[str, Any]) -> None:
        future = self._executor.submit(
            execute_run, run_id, self.store, settings, request, decide=self.decide
        )
        self._pending[run_id] = future
        future.add_done_callback(lambda _: self._pending.pop(run_id, None))

    def active_run_ids(self) -> list[str]:
        return list(self._pending)

    def shutdown(self) -> None:
        """Interrupt runs that have not started; runs already in a worker continue to their end."""
        for run_id, future in list(self._pending.items()):
            if future.cancel():
                self._mark_interrupted(run_id)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._pending:
            logger.warning(
                "Shutting down with %s run(s) still working: %s; the process exits when they end",
                len(self._pending),
                ", ".join(self._pending),
            )

    def _mark_interrupted(self, run_id: str) -> None:
        try:
            self.store.add_step(
                run_id,
                StepKind.STATUS,
                text="The service shut down before this queued run started.",
                output={"status": RunStatus.INTERRUPTED.value},
            )
            self.store.finish_run(
                run_id, RunStatus.INTERRUPTED, error="interrupted: the service shut down"
            )
        except Exception:
            logger.exception("Run %s: could not mark the queued run as interrupted", run_id)
