"""Shared fixtures: a real ClickHouse server, chDB, and a fresh store per test.

Store fixtures:
- `clickhouse_server` (session): Debian's clickhouse-server started in its own temp dir on free
  ports, stopped at the end. Always our own process, so tests may stop and restart it.
- `clickhouse_url` (session): `ENGAGEWATCH_TEST_CLICKHOUSE_URL` if set (a server CI started),
  else the URL of `clickhouse_server`. No database in it.
- `restartable_clickhouse` (function): the `clickhouse_server` with stop()/start(), restarted
  at teardown if a test left it down.
- `chdb_dir` (session) and `chdb_url` (function, a fresh database): chDB runs one embedded
  server per process, so every chDB store in the test process must use `chdb_dir`.
- `store` (function, parametrized "chdb" and "clickhouse"): a fresh database, schema applied.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.store import Store, open_store
from tests.clickhouse_server import ClickHouseServer


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clickhouse_url(request: pytest.FixtureRequest) -> str:
    """Base URL (no database) of the ClickHouse server the tests use."""
    external = os.environ.get("ENGAGEWATCH_TEST_CLICKHOUSE_URL")
    if external:
        return external.rstrip("/")
    server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
    return server.url


@pytest.fixture
def restartable_clickhouse(clickhouse_server: ClickHouseServer) -> Iterator[ClickHouseServer]:
    """The test server, for tests that stop and start it; always left running."""
    yield clickhouse_server
    clickhouse_server.start()


# ---------------------------------------------------------------- chDB and stores


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test process's one chDB directory, kept open so tests skip chDB's restart."""
    path = tmp_path_factory.mktemp("chdb")
    keeper = open_store(f"chdb://{path}?database=keeper")
    yield path
    keeper.close()


def _test_database() -> str:
    return f"test_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def chdb_url(chdb_dir: Path) -> str:
    """A chDB store URL with a database of its own."""
    return f"chdb://{chdb_dir}?database={_test_database()}"


def drop_database(store: Store) -> None:
    """Remove a test's database (test-only; the service never drops anything)."""
    store._execute(f"DROP DATABASE IF EXISTS `{store.database}`")


@pytest.fixture(params=["chdb", "clickhouse"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A store URL with a fresh database, for each backend."""
    if request.param == "chdb":
        return str(request.getfixturevalue("chdb_url"))
    return f"{request.getfixturevalue('clickhouse_url')}/{_test_database()}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store on a fresh database with the schema applied, for each backend."""
    opened = open_store(store_url)
    opened.migrate()
    yield opened
    try:
        drop_database(opened)
    finally:
        opened.close()
