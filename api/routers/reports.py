"""Drift snapshots and evaluation reports of runs."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, HTTPException, status

from agent.run_store import ReportRecord, RunStore
from api.deps import StoreDep, TokenDep
from api.schemas import ErrorDetail, ReportPublic

router = APIRouter(prefix="/reports", tags=["reports"], dependencies=[TokenDep])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No such run or no report stored."}
}


def _not_found(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail)


async def _run_report(store: RunStore, run_id: str, kind: str) -> ReportPublic:
    run = await to_thread.run_sync(store.get_run, run_id)
    if run is None:
        raise _not_found(f"run {run_id!r} not found; list runs with GET /pipeline/history")

    getter = store.drift_snapshot_record if kind == "drift" else store.eval_report_record
    record = await to_thread.run_sync(getter, run_id)
    if record is None:
        raise _not_found(
            f"run {run_id!r} has no {kind} report; its status is {run.status.value}"
            + (" and it is a dry run" if run.dry_run and kind == "eval" else "")
        )
    return ReportPublic.from_record(record)


def _latest(record: ReportRecord | None, kind: str) -> ReportPublic:
    if record is None:
        raise _not_found(f"no {kind} report stored yet; start a run with POST /pipeline/run")
    return ReportPublic.from_record(record)


@router.get("/drift/latest", response_model=ReportPublic, responses=NOT_FOUND)
async def latest_drift(store: StoreDep) -> ReportPublic:
    """Return the most recently stored drift snapshot."""
    return _latest(await to_thread.run_sync(store.latest_drift_snapshot), "drift")


@router.get("/drift/{run_id}", response_model=ReportPublic, responses=NOT_FOUND)
async def run_drift(run_id: str, store: StoreDep) -> ReportPublic:
    """Return the drift snapshot of one run."""
    return await _run_report(store, run_id, "drift")


@router.get("/eval/latest", response_model=ReportPublic, responses=NOT_FOUND)
async def latest_eval(store: StoreDep) -> ReportPublic:
    """Return the most recently stored evaluation report."""
    return _latest(await to_thread.run_sync(store.latest_eval_report), "eval")


@router.get("/eval/{run_id}", response_model=ReportPublic, responses=NOT_FOUND)
async def run_eval(run_id: str, store: StoreDep) -> ReportPublic:
    """Return the evaluation report of one run."""
    return await _run_report(store, run_id, "eval")
