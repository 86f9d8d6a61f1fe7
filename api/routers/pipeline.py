"""Start runs, read their status and history, and follow their steps live."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from agent.run_store import ActiveRunExistsError, RunRecord, RunStore
from agent.steps import RunStatus
from api.deps import LauncherDep, SettingsDep, StepSignalDep, StoreDep, TokenDep
from api.schemas import (
    ActiveRunConflict,
    ErrorDetail,
    RunCreate,
    RunDetail,
    RunPage,
    RunPublic,
    RunStarted,
    StepPublic,
)
from api.streaming import run_events
from watchtower.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/pipeline", tags=["pipeline"], dependencies=[TokenDep])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No run has this id."}
}
_RUN_CREATE_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": RunCreate.model_json_schema()}},
    }
}


async def _read_run_create(request: Request) -> RunCreate:
    """Parse the body as JSON whatever its content type, as `curl -d` sends form content type."""
    raw = await request.body()
    if not raw.strip():
        return RunCreate()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        error: dict[str, Any] = {
            "type": "json_invalid",
            "loc": ("body",),
            "msg": f"body is not valid JSON: {exc}",
        }
        raise RequestValidationError([error]) from None
    try:
        return RunCreate.model_validate(data)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        for error in errors:
            error.pop("ctx", None)
            error.pop("url", None)
        raise RequestValidationError(errors) from None


def _check_windows(settings: Settings, body: RunCreate) -> None:
    """Reject window overrides that the configured data source cannot apply, naming the field."""
    if body.reference_window is None and body.current_window is None:
        return
    from data.base import DataLoaderError
    from data.spec import DataSpec

    try:
        DataSpec.from_settings(
            settings, reference_window=body.reference_window, current_window=body.current_window
        )
    except DataLoaderError as exc:
        field = "reference_window" if body.reference_window is not None else "current_window"
        error: dict[str, Any] = {"type": "value_error", "loc": ("body", field), "msg": str(exc)}
        raise RequestValidationError([error]) from None


def _run_settings(settings: Settings, model_name: str) -> Settings:
    if model_name == settings.mlflow_model_name:
        return settings
    return settings.model_copy(update={"mlflow_model_name": model_name})


async def _get_run_or_404(store: RunStore, run_id: str) -> RunRecord:
    run = await to_thread.run_sync(store.get_run, run_id)
    if run is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"run {run_id!r} not found; list runs with GET /pipeline/history",
        )
    return run


@router.post(
    "/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunStarted,
    responses={409: {"model": ActiveRunConflict, "description": "The model has an active run."}},
    openapi_extra=_RUN_CREATE_BODY,
)
async def start_run(
    request: Request, store: StoreDep, settings: SettingsDep, launcher: LauncherDep
) -> Any:
    """Start a pipeline run in the background and return its id at once."""
    body = await _read_run_create(request)
    _check_windows(settings, body)
    model_name = body.model_name or settings.mlflow_model_name
    try:
        run = await to_thread.run_sync(
            lambda: store.create_run(
                trigger_source=body.trigger_source,
                dry_run=body.dry_run,
                model_name=model_name,
                request=body.model_dump(),
            )
        )
    except ActiveRunExistsError as exc:
        logger.info("Rejected a run for model %s: run %s is active", model_name, exc.active_run_id)
        conflict = ActiveRunConflict(detail=str(exc), active_run_id=exc.active_run_id)
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content=conflict.model_dump())

    launcher.submit(run.id, _run_settings(settings, model_name), body.model_dump())
    logger.info("Run %s accepted (model=%s, dry_run=%s)", run.id, model_name, body.dry_run)
    return RunStarted(run_id=run.id, triggered_at=run.triggered_at)


@router.get("/status/{run_id}", response_model=RunDetail, responses=NOT_FOUND)
async def get_run_status(run_id: str, store: StoreDep) -> RunDetail:
    """Return the run, its decision and summary, and its full ordered trace."""
    run = await _get_run_or_404(store, run_id)
    steps = await to_thread.run_sync(store.list_steps, run_id)
    public = RunPublic.from_record(run).model_dump()
    return RunDetail(**public, steps=[StepPublic.from_record(step) for step in steps])


@router.get(
    "/status/{run_id}/stream",
    responses={
        **NOT_FOUND,
        200: {"content": {"text/event-stream": {}}, "description": "`step` events, then `end`."},
    },
)
async def stream_run(
    request: Request,
    run_id: str,
    store: StoreDep,
    signal: StepSignalDep,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Send only steps after this seq (as Last-Event-ID).")
    ] = None,
) -> EventSourceResponse:
    """Stream the run's steps as server-sent events, then an `end` event, then close."""
    await _get_run_or_404(store, run_id)
    after_seq = max(last_event_id or 0, after or 0)
    state = request.app.state
    events = run_events(store, signal, run_id, after_seq, state.stream_poll_seconds)
    return EventSourceResponse(events, ping=state.stream_heartbeat_seconds)


@router.get("/history", response_model=RunPage)
async def list_history(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Runs per page.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Runs to skip, newest first.")] = 0,
    run_status: Annotated[
        RunStatus | None, Query(alias="status", description="Only runs in this status.")
    ] = None,
) -> RunPage:
    """Return one page of runs, newest first, optionally only those in one status."""
    items, total = await to_thread.run_sync(lambda: store.list_runs(run_status, limit, offset))
    return RunPage(
        items=[RunPublic.from_record(run) for run in items], total=total, limit=limit, offset=offset
    )
