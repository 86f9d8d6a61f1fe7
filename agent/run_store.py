"""The run store: runs, their audit steps, drift snapshots and evaluation reports in one database.

Every write is its own transaction, so a crash loses nothing written before it. SQLite is the default
(WAL journal, busy timeout, `BEGIN IMMEDIATE` for writes, so concurrent writers wait instead of failing
with "database is locked"); any SQLAlchemy URL works. Tables are created and changed only by the
Alembic migrations in `agent/migrations`, which the constructor applies.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from agent.steps import Decision, RunStatus, StepKind
from watchtower.jsonsafe import finite_or_none

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.INTERRUPTED)
REDACTED = "[REDACTED]"

# Key names whose values are secrets, after lower-casing and turning "-" into "_". Token counters such
# as `input_tokens` do not match because the pattern needs the singular `token` at the end.
_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|token|password|passwd|secret|authorization|cookie|credentials?|private_?key)$"
)
# Secret-looking substrings inside free text: bearer credentials and Anthropic API keys.
_SECRET_TEXT = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+|sk-ant-[A-Za-z0-9_-]+")

# Owner id of the runs this process starts. The random part distinguishes a restarted process from
# the one before it when both get the same PID, as PID 1 in a container does.
PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

# Alembic keeps its migration context in module globals, so one process migrates one store at a time.
_MIGRATION_LOCK = threading.Lock()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    """Attach UTC to a naive time read back from a database that drops the zone (SQLite)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _json_fallback(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def _redact_text(text: str) -> str:
    return _SECRET_TEXT.sub(lambda m: (m.group(1) or "") + REDACTED, text)


def redact(value: Any) -> Any:
    """Replace the values of secret-looking keys, and secret-looking substrings, by `[REDACTED]`."""
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            name = str(key).lower().replace("-", "_")
            cleaned[key] = (
                REDACTED if _SECRET_KEY.search(name) and item is not None else redact(item)
            )
        return cleaned
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _redact_text(value)
    return value


def to_stored_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Convert a step payload to strict JSON (no NaN, numpy scalars as numbers) with secrets redacted."""
    if value is None:
        return None
    plain = json.loads(json.dumps(value, default=_json_fallback))
    return redact(finite_or_none(plain))  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("active_model", name="uq_runs_active_model"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    trigger_source: Mapped[str] = mapped_column(String(100))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    model_name: Mapped[str] = mapped_column(String(255), index=True)
    # Equal to model_name while the run is queued or running, NULL afterwards. Its unique constraint
    # makes "at most one active run per model" atomic; NULLs never collide.
    active_model: Mapped[str | None] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(255))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    triggered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    decision_backend: Mapped[str | None] = mapped_column(String(16))
    decision_model: Mapped[str | None] = mapped_column(String(255))
    step_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cache_read_input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cache_creation_input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StepRow(Base):
    __tablename__ = "agent_steps"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_agent_steps_run_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    tool_name: Mapped[str | None] = mapped_column(String(100))
    input: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)
    usage: Mapped[dict[str, int] | None] = mapped_column(JSON)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DriftSnapshotRow(Base):
    __tablename__ = "drift_snapshots"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    dataset_drifted: Mapped[bool | None] = mapped_column(Boolean)
    drift_share: Mapped[float | None] = mapped_column(Float)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class EvalReportRow(Base):
    __tablename__ = "eval_reports"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    recommend_promotion: Mapped[bool | None] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class RunRecord:
    id: str
    status: RunStatus
    trigger_source: str
    dry_run: bool
    model_name: str
    request: dict[str, Any]
    triggered_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    decision: Decision | None
    error: str | None
    summary: str | None
    decision_backend: str | None
    decision_model: str | None
    step_count: int
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @classmethod
    def from_row(cls, row: RunRow) -> RunRecord:
        return cls(
            id=row.id,
            status=RunStatus(row.status),
            trigger_source=row.trigger_source,
            dry_run=row.dry_run,
            model_name=row.model_name,
            request=dict(row.request or {}),
            triggered_at=_as_utc(row.triggered_at),  # type: ignore[arg-type]
            started_at=_as_utc(row.started_at),
            finished_at=_as_utc(row.finished_at),
            decision=Decision(row.decision) if row.decision else None,
            error=row.error,
            summary=row.summary,
            decision_backend=row.decision_backend,
            decision_model=row.decision_model,
            step_count=row.step_count,
            usage={key: getattr(row, key) for key in USAGE_KEYS},
        )


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    seq: int
    kind: StepKind
    tool_name: str | None
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    text: str | None
    usage: dict[str, int] | None
    duration_ms: float | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: StepRow) -> StepRecord:
        return cls(
            run_id=row.run_id,
            seq=row.seq,
            kind=StepKind(row.kind),
            tool_name=row.tool_name,
            input=row.input,
            output=row.output,
            text=row.text,
            usage=row.usage,
            duration_ms=row.duration_ms,
            created_at=_as_utc(row.created_at),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class ReportRecord:
    """A stored drift snapshot or evaluation report with the run it belongs to."""

    run_id: str
    created_at: datetime
    report: dict[str, Any]


def _report_record(row: Any) -> ReportRecord | None:
    if row is None:
        return None
    return ReportRecord(row.run_id, _as_utc(row.created_at), row.report)  # type: ignore[arg-type]


class RunNotFoundError(KeyError):
    """Raised when a run id is not in the store."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"run {self.run_id!r} not found"


class ActiveRunExistsError(RuntimeError):
    """Raised by `create_run` when the model already has a queued or running run."""

    def __init__(self, model_name: str, active_run_id: str) -> None:
        super().__init__(
            f"model {model_name!r} already has an active run {active_run_id!r}; "
            f"wait for it to finish or follow it at /pipeline/status/{active_run_id}"
        )
        self.model_name = model_name
        self.active_run_id = active_run_id


def _configure_sqlite(engine: Engine) -> None:
    """Turn on WAL and a busy timeout, and let SQLAlchemy emit BEGIN (IMMEDIATE for writes).

    pysqlite's own transaction handling does not BEGIN before SELECT or DDL; see "Transactions with
    SQLite and the sqlite3 driver" in the SQLAlchemy 2.1 SQLite dialect documentation.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def build_engine(database_url: str) -> Engine:
    """Create the engine for `database_url`, configured for concurrent writers on SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=10, max_overflow=30
        )
    _configure_sqlite(engine)
    return engine


def migrations_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _owner_is_gone(owner: str | None) -> bool:
    """Tell whether the process that started a run has ended, as far as this host can see.

    NOTE: a run owned by another host is never treated as gone, because its process cannot be checked
    from here. Such runs stay `running` until that host's service recovers them.
    """
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if owner == PROCESS_OWNER:
        return False
    if host != socket.gethostname():
        return False
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RunStore:
    """Runs, steps and reports in the database at `database_url`. Implements `RunRecorder`."""

    def __init__(self, database_url: str, *, migrate: bool = True) -> None:
        self.database_url = database_url
        self.engine = build_engine(database_url)
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._listeners: list[Callable[[str], None]] = []
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Apply every pending migration. Concurrent callers on SQLite wait for each other."""
        config = migrations_config()
        with _MIGRATION_LOCK, self._writer.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Run `SELECT 1`, raising the driver's error when the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(select(1))

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """Call `callback(run_id)` after each committed step or run update made through this store.

        Listeners run in the writing thread and must return quickly. Writes made by other processes
        do not call them, so readers that need those still poll.
        """
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _notify(self, run_id: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(run_id)
            except Exception:
                logger.exception("Run %s: a run store listener failed", run_id)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            yield session

    # Runs

    def create_run(
        self, *, trigger_source: str, dry_run: bool, model_name: str, request: dict[str, Any]
    ) -> RunRecord:
        """Store a new queued run, or raise `ActiveRunExistsError` when the model has an active one."""
        for _attempt in range(3):
            row = RunRow(
                id=str(uuid.uuid4()),
                status=RunStatus.QUEUED.value,
                trigger_source=trigger_source,
                dry_run=dry_run,
                model_name=model_name,
                active_model=model_name,
                owner=PROCESS_OWNER,
                request=to_stored_json(request) or {},
                triggered_at=utc_now(),
                step_count=0,
                **dict.fromkeys(USAGE_KEYS, 0),
            )
            try:
                with self._write() as session:
                    session.add(row)
                return RunRecord.from_row(row)
            except IntegrityError:
                active = self.active_run(model_name)
                if active is not None:
                    raise ActiveRunExistsError(model_name, active.id) from None
                # The active run finished between the insert and the lookup: try again.
        raise RuntimeError(
            f"could not create a run for model {model_name!r} after 3 attempts; retry the request"
        )

    def active_run(self, model_name: str) -> RunRecord | None:
        with self._read() as session:
            row = session.scalar(select(RunRow).where(RunRow.active_model == model_name))
            return RunRecord.from_row(row) if row else None

    def mark_started(self, run_id: str) -> None:
        self._update_run(run_id, status=RunStatus.RUNNING.value, started_at=utc_now())

    def set_decision_maker(self, run_id: str, backend: str, model: str | None) -> None:
        self._update_run(run_id, decision_backend=backend, decision_model=model)

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        decision: Decision | str | None = None,
        error: str | None = None,
        summary: str | None = None,
    ) -> None:
        """Record how a run ended and release its model for the next run."""
        final = RunStatus(status)
        if final not in FINAL_STATUSES:
            valid = ", ".join(s.value for s in FINAL_STATUSES)
            raise ValueError(f"invalid final status {final.value!r}; use one of: {valid}")
        self._update_run(
            run_id,
            status=final.value,
            decision=Decision(decision).value if decision else None,
            error=_redact_text(error) if error else None,
            summary=summary,
            finished_at=utc_now(),
            active_model=None,
        )

    def _update_run(self, run_id: str, **values: Any) -> None:
        with self._write() as session:
            result = session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise RunNotFoundError(run_id)
        self._notify(run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as session:
            row = session.get(RunRow, run_id)
            return RunRecord.from_row(row) if row else None

    def list_runs(
        self, status: RunStatus | str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """Return one page of runs, newest first, and the number of runs that match `status`."""
        query = select(RunRow)
        count = select(func.count()).select_from(RunRow)
        if status is not None:
            query = query.where(RunRow.status == RunStatus(status).value)
            count = count.where(RunRow.status == RunStatus(status).value)
        query = query.order_by(RunRow.triggered_at.desc(), RunRow.id).limit(limit).offset(offset)
        with self._read() as session:
            items = [RunRecord.from_row(row) for row in session.scalars(query)]
            total = session.scalar(count) or 0
        return items, total

    def recover_interrupted(self) -> list[str]:
        """Mark runs left queued or running by a process that has ended as interrupted, with a step."""
        active = [s.value for s in ACTIVE_STATUSES]
        with self._read() as session:
            rows = session.execute(select(RunRow.id, RunRow.owner).where(RunRow.status.in_(active)))
            orphans = [run_id for run_id, owner in rows if _owner_is_gone(owner)]

        for run_id in orphans:
            self.add_step(
                run_id,
                StepKind.STATUS,
                text="The service stopped while this run was active; the run is marked interrupted.",
                output={"status": RunStatus.INTERRUPTED.value},
            )
            self.finish_run(
                run_id,
                RunStatus.INTERRUPTED,
                error="interrupted: the service process stopped before the run finished",
            )
            logger.warning("Marked run %s as interrupted: its process is gone", run_id)
        return orphans

    # Steps

    def add_step(
        self,
        run_id: str,
        kind: StepKind,
        *,
        tool_name: str | None = None,
        input: dict[str, Any] | None = None,
        output: dict[str, Any] | None = None,
        text: str | None = None,
        usage: dict[str, int] | None = None,
        duration_ms: float | None = None,
    ) -> int:
        """Store one step in its own transaction, add its token usage to the run, return its seq."""
        counts = {key: int((usage or {}).get(key) or 0) for key in USAGE_KEYS}
        increments: dict[str, Any] = {key: getattr(RunRow, key) + counts[key] for key in USAGE_KEYS}
        with self._write() as session:
            # The UPDATE takes the run's write lock first, so the next seq cannot be taken twice.
            result = session.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(step_count=RunRow.step_count + 1, **increments)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise RunNotFoundError(run_id)
            seq = session.scalar(select(RunRow.step_count).where(RunRow.id == run_id))
            session.add(
                StepRow(
                    run_id=run_id,
                    seq=seq,
                    kind=StepKind(kind).value,
                    tool_name=tool_name,
                    input=to_stored_json(input),
                    output=to_stored_json(output),
                    text=_redact_text(text) if text else text,
                    usage={key: value for key, value in counts.items() if value} or None,
                    duration_ms=duration_ms,
                    created_at=utc_now(),
                )
            )
        self._notify(run_id)
        return int(seq or 0)

    def list_steps(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[StepRecord]:
        """Return the run's steps with a sequence number above `after_seq`, in order."""
        query = (
            select(StepRow)
            .where(StepRow.run_id == run_id, StepRow.seq > after_seq)
            .order_by(StepRow.seq)
            .limit(limit)
        )
        with self._read() as session:
            return [StepRecord.from_row(row) for row in session.scalars(query)]

    # Reports

    def save_drift_snapshot(self, run_id: str, report: dict[str, Any]) -> None:
        """Store the run's drift report (one per run; a second call replaces it)."""
        stored = to_stored_json(report) or {}
        dataset = stored.get("dataset") or {}
        row = DriftSnapshotRow(
            run_id=run_id,
            created_at=utc_now(),
            dataset_drifted=dataset.get("drifted"),
            drift_share=dataset.get("drift_share"),
            report=stored,
        )
        self._replace(row, run_id)

    def get_drift_snapshot(self, run_id: str) -> dict[str, Any] | None:
        record = self.drift_snapshot_record(run_id)
        return record.report if record else None

    def drift_snapshot_record(self, run_id: str) -> ReportRecord | None:
        return self._record(DriftSnapshotRow, run_id)

    def latest_drift_snapshot(self) -> ReportRecord | None:
        return self._latest(DriftSnapshotRow)

    def save_eval_report(self, run_id: str, report: dict[str, Any]) -> None:
        """Store the run's evaluation report (one per run; a second call replaces it)."""
        stored = to_stored_json(report) or {}
        row = EvalReportRow(
            run_id=run_id,
            created_at=utc_now(),
            recommend_promotion=stored.get("recommend_promotion"),
            report=stored,
        )
        self._replace(row, run_id)

    def get_eval_report(self, run_id: str) -> dict[str, Any] | None:
        record = self.eval_report_record(run_id)
        return record.report if record else None

    def eval_report_record(self, run_id: str) -> ReportRecord | None:
        return self._record(EvalReportRow, run_id)

    def latest_eval_report(self) -> ReportRecord | None:
        return self._latest(EvalReportRow)

    def _replace(self, row: DriftSnapshotRow | EvalReportRow, run_id: str) -> None:
        with self._write() as session:
            if session.get(RunRow, run_id) is None:
                raise RunNotFoundError(run_id)
            session.merge(row)

    def _record(
        self, table: type[DriftSnapshotRow] | type[EvalReportRow], run_id: str
    ) -> ReportRecord | None:
        with self._read() as session:
            row = session.get(table, run_id)
            return _report_record(row)

    def _latest(self, table: type[DriftSnapshotRow] | type[EvalReportRow]) -> ReportRecord | None:
        query = select(table).order_by(table.created_at.desc()).limit(1)
        with self._read() as session:
            return _report_record(session.scalar(query))
