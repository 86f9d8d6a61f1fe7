from __future__ import annotations

import sqlite3

import pytest

from data.base import DataLoaderError
from data.spec import DataSpec, load_windows
from data.sql import SqlDataLoader, SqlOptions, resolve_url
from watchtower.settings import Settings, get_settings


@pytest.fixture
def database(tmp_path) -> str:
    path = tmp_path / "sales.db"
    connection = sqlite3.connect(path)
    connection.execute(
        "create table orders (placed_at text, amount real, region text, returned int)"
    )
    rows = [
        (f"2024-0{month}-{day:02d} 12:00:00", 10.0 * day + month, ["n", "s"][day % 2], day % 3 == 0)
        for month in (1, 2)
        for day in range(1, 21)
    ]
    connection.executemany("insert into orders values (?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def _loader(url: str, **options: object) -> SqlDataLoader:
    values: dict[str, object] = {
        "url": url,
        "reference_query": "select * from orders where placed_at < '2024-02-01'",
        "current_query": "select * from orders where placed_at >= '2024-02-01'",
        **options,
    }
    return SqlDataLoader(SqlOptions.model_validate(values))


def test_sql_one_query_per_window(database) -> None:
    windows = _loader(
        database, target="returned", timestamp="placed_at", categorical=["region"]
    ).load()
    assert len(windows.reference) == 20
    assert len(windows.current) == 20
    assert windows.schema.features == ["amount", "region"]
    assert windows.current["placed_at"].min().month == 2
    assert windows.reference["returned"].sum() == 6


def test_sql_spec_from_settings(database) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_source="sql",
        data_sql_url=database,
        data_reference_query="select amount, region from orders limit 5",
        data_current_query="select amount, region from orders limit 7",
    )
    windows = load_windows(DataSpec.from_settings(settings))
    assert len(windows.reference) == 5
    assert len(windows.current) == 7


def test_sql_bad_query_names_window(database) -> None:
    loader = _loader(database, current_query="select * from missing_table")
    with pytest.raises(
        DataLoaderError, match="the current query failed .*no such table: missing_table"
    ):
        loader.load()


def test_sql_empty_result_named(database) -> None:
    loader = _loader(database, reference_query="select * from orders where amount < 0")
    with pytest.raises(DataLoaderError, match="the reference query returned no rows"):
        loader.load()


def test_sql_missing_target_named(database) -> None:
    loader = _loader(database, target="refunded")
    with pytest.raises(
        DataLoaderError, match=r"column\(s\) \['refunded'\] not found in the reference"
    ):
        loader.load()


def test_sql_unreachable_database_named(tmp_path) -> None:
    loader = _loader(f"sqlite:///{tmp_path}/absent-folder/sales.db")
    with pytest.raises(DataLoaderError, match="failed to connect to sqlite:///.*unable to open"):
        loader.load()


def test_sql_invalid_url_named() -> None:
    with pytest.raises(DataLoaderError, match="invalid SQL URL"):
        _loader("not a url").load()


def test_sql_redacted_password_taken_from_env(monkeypatch) -> None:
    monkeypatch.setenv("DATA_SQL_URL", "postgresql://watcher:pw-123@127.0.0.1:5432/sales")
    get_settings.cache_clear()
    try:
        url = resolve_url("postgresql://watcher:***@127.0.0.1:5432/sales")
    finally:
        get_settings.cache_clear()
    assert url.password == "pw-123"


def test_sql_redacted_password_other_database(monkeypatch) -> None:
    monkeypatch.setenv("DATA_SQL_URL", "postgresql://watcher:pw-123@127.0.0.1:5432/other")
    get_settings.cache_clear()
    try:
        with pytest.raises(
            DataLoaderError, match="not postgresql://watcher:\\*\\*\\*@127.0.0.1:5432/sales"
        ):
            resolve_url("postgresql://watcher:***@127.0.0.1:5432/sales")
    finally:
        get_settings.cache_clear()


def test_sql_redacted_password_without_env(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DATA_SQL_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        with pytest.raises(DataLoaderError, match="has a redacted password; set DATA_SQL_URL"):
            resolve_url("postgresql://watcher:***@127.0.0.1:5432/sales")
    finally:
        get_settings.cache_clear()
