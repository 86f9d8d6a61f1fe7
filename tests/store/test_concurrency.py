from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from agent.run_store import ActiveRunExistsError, RunStore
from agent.steps import StepKind


def test_concurrent_writers_keep_every_step(store: RunStore) -> None:
    run_ids = [
        store.create_run(trigger_source="t", dry_run=True, model_name=f"m{i}", request={}).id
        for i in range(4)
    ]

    def write(run_id: str) -> list[int]:
        return [
            store.add_step(run_id, StepKind.STATUS, text=f"{i}", usage={"input_tokens": 1})
            for i in range(50)
        ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(write, run_ids * 4))

    for run_id in run_ids:
        steps = store.list_steps(run_id)
        assert [s.seq for s in steps] == list(range(1, 201))
        assert store.get_run(run_id).usage["input_tokens"] == 200  # type: ignore[union-attr]
    assert sum(len(r) for r in results) == 800


def test_separate_stores_share_database(database_url: str) -> None:
    stores = [RunStore(database_url) for _ in range(3)]
    run_id = stores[0].create_run(trigger_source="t", dry_run=True, model_name="m", request={}).id

    def write(store: RunStore) -> None:
        for i in range(30):
            store.add_step(run_id, StepKind.STATUS, text=str(i))

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [s.seq for s in stores[0].list_steps(run_id)] == list(range(1, 91))
    for store in stores:
        store.close()


def test_concurrent_create_has_one_winner(store: RunStore) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def create() -> None:
        barrier.wait()
        try:
            store.create_run(trigger_source="t", dry_run=True, model_name="m", request={})
            outcomes.append("created")
        except ActiveRunExistsError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("created") == 1
    assert outcomes.count("conflict") == 7


def test_concurrent_migrations_agree(database_url: str) -> None:
    def open_store(_: int) -> str:
        store = RunStore(database_url)
        store.close()
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(open_store, range(4))) == ["ok"] * 4
