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
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver import Client

from server.store import Store, open_store

# ---------------------------------------------------------------- ClickHouse server

CLICKHOUSE_BINARY = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"

# Element names as Debian's 18.16 /etc/clickhouse-server/config.xml spells them.
_CONFIG_XML = """<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{root}/log/server.log</log>
    <errorlog>{root}/log/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
"""

_USERS_XML = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClickHouseServer:
    """A clickhouse-server child process with its own directory, config and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tcp_port = _free_port()
        self.http_port = _free_port()
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.config = root / "config.xml"
        self.config.write_text(
            _CONFIG_XML.format(root=root, tcp_port=self.tcp_port, http_port=self.http_port)
        )
        (root / "users.xml").write_text(_USERS_XML)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (same data dir and ports as before) and wait until it answers."""
        if self.running:
            return
        with open(self.root / "log" / "stdout.log", "ab") as out:
            self._process = subprocess.Popen(
                [CLICKHOUSE_BINARY, f"--config-file={self.config}"],
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        client = Client("127.0.0.1", port=self.tcp_port, connect_timeout=1)
        while True:
            try:
                client.execute("SELECT 1")
                client.disconnect()
                return
            except Exception as e:
                if not self.running or time.monotonic() > deadline:
                    self.stop()
                    log = (self.root / "log" / "server.err.log").read_text(errors="replace")
                    raise RuntimeError(f"clickhouse-server did not start: {log[-2000:]}") from e
                time.sleep(0.1)

    def stop(self, grace: float = 1.0) -> None:
        """Stop the server; kill it if it lingers (18.16 waits ~10 s for idle clients)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


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
