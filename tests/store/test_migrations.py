from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from agent.run_store import RunStore


def _columns(store: RunStore, table: str) -> dict[str, Any]:
    return {column["name"]: column for column in inspect(store.engine).get_columns(table)}


def test_migration_creates_tables(store: RunStore) -> None:
    tables = set(inspect(store.engine).get_table_names())

    assert {"runs", "agent_steps", "drift_snapshots", "eval_reports", "alembic_version"} <= tables


def test_runs_columns(store: RunStore) -> None:
    columns = _columns(store, "runs")

    assert set(columns) == {
        "id", "status", "trigger_source", "dry_run", "model_name", "active_model", "owner",
        "request", "triggered_at", "started_at", "finished_at", "decision", "error", "summary",
        "decision_backend", "decision_model", "step_count", "input_tokens", "output_tokens",
        "cache_read_input_tokens", "cache_creation_input_tokens",
    }  # fmt: skip
    assert columns["status"]["nullable"] is False
    assert columns["decision"]["nullable"] is True


def test_agent_steps_columns(store: RunStore) -> None:
    columns = _columns(store, "agent_steps")

    assert set(columns) == {
        "id", "run_id", "seq", "kind", "tool_name", "input", "output", "text", "usage",
        "duration_ms", "created_at",
    }  # fmt: skip


def test_report_tables_columns(store: RunStore) -> None:
    drift = set(_columns(store, "drift_snapshots"))
    evaluation = set(_columns(store, "eval_reports"))

    assert drift == {"run_id", "created_at", "dataset_drifted", "drift_share", "report"}
    assert evaluation == {"run_id", "created_at", "recommend_promotion", "report"}


def test_constraints_enforce_invariants(store: RunStore) -> None:
    inspector = inspect(store.engine)
    run_uniques = {c["name"]: c["column_names"] for c in inspector.get_unique_constraints("runs")}
    step_uniques = {
        c["name"]: c["column_names"] for c in inspector.get_unique_constraints("agent_steps")
    }

    assert run_uniques["uq_runs_active_model"] == ["active_model"]
    assert step_uniques["uq_agent_steps_run_seq"] == ["run_id", "seq"]


def test_migration_is_at_head(store: RunStore) -> None:
    with store.engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    assert version == "0001"


def test_sqlite_uses_wal(store: RunStore) -> None:
    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()

    assert mode == "wal"
    assert timeout == 30000
