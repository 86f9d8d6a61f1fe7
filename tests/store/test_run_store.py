from __future__ import annotations

import math

import pytest

from agent.run_store import (
    REDACTED,
    ActiveRunExistsError,
    RunNotFoundError,
    RunStore,
)
from agent.steps import Decision, RunStatus, StepKind


def _new_run(store: RunStore, model_name: str = "churn", dry_run: bool = True) -> str:
    run = store.create_run(
        trigger_source="test", dry_run=dry_run, model_name=model_name, request={"dry_run": dry_run}
    )
    return run.id


def test_create_run_is_queued(store: RunStore) -> None:
    run = store.create_run(
        trigger_source="cron", dry_run=False, model_name="churn", request={"a": 1}
    )

    assert run.status is RunStatus.QUEUED
    assert run.trigger_source == "cron"
    assert run.dry_run is False
    assert run.request == {"a": 1}
    assert run.triggered_at.tzinfo is not None
    assert store.get_run(run.id) == run


def test_second_active_run_is_rejected(store: RunStore) -> None:
    first = _new_run(store)

    with pytest.raises(ActiveRunExistsError) as caught:
        _new_run(store)

    assert caught.value.active_run_id == first


def test_other_model_may_run_at_same_time(store: RunStore) -> None:
    _new_run(store, "churn")
    other = _new_run(store, "fraud")

    assert store.active_run("fraud").id == other  # type: ignore[union-attr]


def test_finished_run_releases_model(store: RunStore) -> None:
    first = _new_run(store)
    store.finish_run(first, RunStatus.COMPLETED, Decision.NO_ACTION)

    second = _new_run(store)

    assert store.active_run("churn").id == second  # type: ignore[union-attr]
    assert store.get_run(first).decision is Decision.NO_ACTION  # type: ignore[union-attr]


def test_finish_run_rejects_active_status(store: RunStore) -> None:
    run_id = _new_run(store)

    with pytest.raises(ValueError, match="invalid final status 'running'"):
        store.finish_run(run_id, RunStatus.RUNNING)


def test_lifecycle_records_times_and_maker(store: RunStore) -> None:
    run_id = _new_run(store)
    store.mark_started(run_id)
    store.set_decision_maker(run_id, "rules", None)
    store.finish_run(run_id, "failed", "failed", error="boom", summary="it failed")

    run = store.get_run(run_id)

    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.started_at is not None
    assert run.finished_at is not None
    assert run.finished_at >= run.started_at
    assert run.decision_backend == "rules"
    assert run.error == "boom"
    assert run.summary == "it failed"
    assert store.active_run("churn") is None


def test_unknown_run_raises_not_found(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError, match="run 'nope' not found"):
        store.add_step("nope", StepKind.STATUS, text="x")

    with pytest.raises(RunNotFoundError):
        store.mark_started("nope")

    assert store.get_run("nope") is None


def test_steps_get_consecutive_seq(store: RunStore) -> None:
    run_id = _new_run(store)
    other = _new_run(store, "fraud")

    seqs = [store.add_step(run_id, StepKind.STATUS, text=f"step {i}") for i in range(3)]
    other_seq = store.add_step(other, StepKind.STATUS, text="other")

    assert seqs == [1, 2, 3]
    assert other_seq == 1
    assert [s.text for s in store.list_steps(run_id)] == ["step 0", "step 1", "step 2"]
    assert [s.seq for s in store.list_steps(run_id, after_seq=1)] == [2, 3]


def test_step_fields_round_trip(store: RunStore) -> None:
    run_id = _new_run(store)
    store.add_step(
        run_id,
        StepKind.TOOL_CALL,
        tool_name="run_feature_drift",
        input={"feature": "age"},
        output={"psi": 0.25},
        text="checking age",
        duration_ms=12.5,
    )

    step = store.list_steps(run_id)[0]

    assert step.kind is StepKind.TOOL_CALL
    assert step.tool_name == "run_feature_drift"
    assert step.input == {"feature": "age"}
    assert step.output == {"psi": 0.25}
    assert step.duration_ms == 12.5


def test_step_usage_adds_to_run_totals(store: RunStore) -> None:
    run_id = _new_run(store)
    store.add_step(run_id, StepKind.LLM_REASONING, usage={"input_tokens": 100, "output_tokens": 20})
    store.add_step(
        run_id,
        StepKind.LLM_REASONING,
        usage={"input_tokens": 50, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 3},
    )

    usage = store.get_run(run_id).usage  # type: ignore[union-attr]

    assert usage == {
        "input_tokens": 150,
        "output_tokens": 20,
        "cache_read_input_tokens": 7,
        "cache_creation_input_tokens": 3,
    }


def test_step_secrets_are_redacted(store: RunStore) -> None:
    run_id = _new_run(store)
    store.add_step(
        run_id,
        StepKind.TOOL_RESULT,
        input={"api_key": "sk-ant-abc123", "nested": [{"Authorization": "Basic eHl6"}]},
        output={"password": "hunter2", "access_token": "t0k", "input_tokens": 12},
        text="called with Bearer abc.def and key sk-ant-xyz789",
    )

    step = store.list_steps(run_id)[0]

    assert step.input == {"api_key": REDACTED, "nested": [{"Authorization": REDACTED}]}
    assert step.output == {"password": REDACTED, "access_token": REDACTED, "input_tokens": 12}
    assert "abc.def" not in (step.text or "")
    assert "sk-ant-xyz789" not in (step.text or "")


def test_step_json_is_strict(store: RunStore) -> None:
    np = pytest.importorskip("numpy")
    run_id = _new_run(store)
    store.add_step(
        run_id,
        StepKind.TOOL_RESULT,
        output={"nan": math.nan, "inf": math.inf, "f32": np.float32(0.5), "i64": np.int64(3)},
    )

    output = store.list_steps(run_id)[0].output

    assert output == {"nan": None, "inf": None, "f32": 0.5, "i64": 3}


def test_list_runs_filters_and_pages(store: RunStore) -> None:
    ids = []
    for i in range(5):
        run_id = _new_run(store, f"model-{i}")
        ids.append(run_id)
        if i % 2 == 0:
            store.finish_run(run_id, RunStatus.COMPLETED, Decision.NO_ACTION)

    completed, completed_total = store.list_runs(status="completed")
    page, total = store.list_runs(limit=2, offset=1)

    assert completed_total == 3
    assert {run.id for run in completed} == {ids[0], ids[2], ids[4]}
    assert total == 5
    assert [run.id for run in page] == [ids[3], ids[2]]


def test_drift_snapshot_replaced_and_latest(store: RunStore) -> None:
    first = _new_run(store, "a")
    second = _new_run(store, "b")
    store.save_drift_snapshot(first, {"dataset": {"drifted": True, "drift_share": 0.5}})
    store.save_drift_snapshot(second, {"dataset": {"drifted": False, "drift_share": 0.0}})
    store.save_drift_snapshot(first, {"dataset": {"drifted": False, "drift_share": 0.1}})

    latest = store.latest_drift_snapshot()

    assert store.get_drift_snapshot(first) == {"dataset": {"drifted": False, "drift_share": 0.1}}
    assert latest is not None
    assert latest.run_id == first
    assert store.get_drift_snapshot("missing") is None


def test_eval_report_round_trip(store: RunStore) -> None:
    run_id = _new_run(store)
    assert store.latest_eval_report() is None

    store.save_eval_report(run_id, {"recommend_promotion": True, "difference": math.nan})

    assert store.get_eval_report(run_id) == {"recommend_promotion": True, "difference": None}
    assert store.latest_eval_report().run_id == run_id  # type: ignore[union-attr]


def test_report_for_unknown_run_raises(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError):
        store.save_eval_report("missing", {"recommend_promotion": False})


def test_store_reopens_existing_database(database_url: str) -> None:
    first = RunStore(database_url)
    run_id = _new_run(first)
    first.close()

    second = RunStore(database_url)

    assert second.get_run(run_id) is not None
    second.close()


def test_memory_database_works() -> None:
    store = RunStore("sqlite://")
    run_id = _new_run(store)

    assert store.add_step(run_id, StepKind.STATUS, text="x") == 1
    store.close()
