"""Debian's clickhouse-server as a child process with its own directory and free ports.

Used by the test fixtures and by the benchmarks, so both measure against a real server.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clickhouse_driver import Client

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _quiet_driver() -> Iterator[None]:
    driver = logging.getLogger("clickhouse_driver")
    level = driver.level
    driver.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        driver.setLevel(level)


class ClickHouseServer:
    """A clickhouse-server child process with its own directory, config and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tcp_port = free_port()
        self.http_port = free_port()
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
                with _quiet_driver():  # each refused try would log a traceback
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
