from __future__ import annotations

import subprocess
import sys

from sqlalchemy import update

from agent.run_store import PROCESS_OWNER, RunRow, RunStore
from agent.steps import RunStatus, StepKind


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _set_owner(store: RunStore, run_id: str, owner: str | None) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(RunRow).where(RunRow.id == run_id).values(owner=owner))


def test_orphaned_running_run_is_interrupted(store: RunStore) -> None:
    run = store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
    store.mark_started(run.id)
    host, _pid, token = PROCESS_OWNER.split(":")
    _set_owner(store, run.id, f"{host}:{_dead_pid()}:{token}")

    recovered = store.recover_interrupted()

    stored = store.get_run(run.id)
    last_step = store.list_steps(run.id)[-1]
    assert recovered == [run.id]
    assert stored.status is RunStatus.INTERRUPTED  # type: ignore[union-attr]
    assert stored.finished_at is not None  # type: ignore[union-attr]
    assert last_step.kind is StepKind.STATUS
    assert "interrupted" in (last_step.text or "")
    assert store.active_run("m") is None


def test_same_pid_new_process_recovers(store: RunStore) -> None:
    run = store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
    host, pid, _token = PROCESS_OWNER.split(":")
    _set_owner(store, run.id, f"{host}:{pid}:00000000")

    assert store.recover_interrupted() == [run.id]


def test_own_and_live_runs_are_kept(store: RunStore) -> None:
    own = store.create_run(trigger_source="t", dry_run=True, model_name="a", request={})
    live = store.create_run(trigger_source="t", dry_run=True, model_name="b", request={})
    remote = store.create_run(trigger_source="t", dry_run=True, model_name="c", request={})
    host, _pid, _token = PROCESS_OWNER.split(":")
    _set_owner(store, live.id, f"{host}:1:abcdef12")
    _set_owner(store, remote.id, "another-host:4242:abcdef12")

    recovered = store.recover_interrupted()

    assert recovered == []
    assert store.get_run(own.id).status is RunStatus.QUEUED  # type: ignore[union-attr]


def test_finished_runs_are_not_recovered(store: RunStore) -> None:
    run = store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
    store.finish_run(run.id, RunStatus.COMPLETED, "no_action")
    _set_owner(store, run.id, None)

    assert store.recover_interrupted() == []
