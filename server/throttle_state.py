"""Durable state of the throttling consumer: the decisions log and the resume cursor.

Order of writes for each alert: the decision (which carries the alert's sequence and the
account's resulting state) is appended and fsynced first, then the cursor file is replaced
atomically. A crash between the two leaves a decision ahead of the cursor; on start the
consumer rolls the cursor forward to the last recorded sequence, so the alert is neither
applied again nor missed. A crash in the middle of an append leaves a torn last line without
its newline: it was never acknowledged, so it is cut off and the alert is received again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from server.throttle_ladder import AccountState, LiveAlert

logger = logging.getLogger(__name__)

STATE_VERSION = 1


class StateLocked(Exception):
    """Another consumer process already uses this state file."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a restarted consumer resumes from."""

    last_sequence: int
    accounts: dict[str, AccountState]
    decisions: int  # records in the decisions log
    rolled_forward: bool  # the log was ahead of the cursor (a crash between the two writes)


def account_to_json(account: AccountState) -> dict[str, Any]:
    return {
        "level": account.level,
        "alerts": {
            alert_id: {"score": a.score, "confirmed": a.confirmed, "action": a.action}
            for alert_id, a in sorted(account.alerts.items())
        },
    }


def account_from_json(data: dict[str, Any]) -> AccountState:
    alerts = {
        alert_id: LiveAlert(float(a["score"]), bool(a["confirmed"]), int(a["action"]))
        for alert_id, a in data["alerts"].items()
    }
    return AccountState(int(data["level"]), alerts)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ConsumerState:
    """The cursor file and the decisions log of one consumer, locked to this process."""

    def __init__(self, state_path: Path, decisions_path: Path) -> None:
        self.state_path = state_path
        self.decisions_path = decisions_path
        state_path.parent.mkdir(parents=True, exist_ok=True)
        decisions_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(state_path.with_name(state_path.name + ".lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            self._lock_file.close()
            raise StateLocked(f"another throttle consumer is using {state_path}") from err
        self._log: IO[bytes] | None = None

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
        self._lock_file.close()  # releases the lock

    def recover(self) -> Recovered:
        """Repairs a torn log tail, rebuilds the accounts and rolls the cursor forward."""
        self._cut_torn_tail()
        accounts: dict[str, AccountState] = {}
        logged = 0
        count = 0
        if self.decisions_path.exists():
            with self.decisions_path.open("rb") as log:
                for line in log:
                    record = json.loads(line)
                    count += 1
                    logged = max(logged, int(record["sequence"]))
                    accounts[record["account_id"]] = account_from_json(record["account"])
        cursor = self._read_cursor()
        if cursor > logged and count:
            logger.warning(
                "cursor %d is ahead of the decisions log (%d): was the log replaced?",
                cursor,
                logged,
            )
        rolled = logged > cursor
        last = max(cursor, logged)
        if rolled:
            self.save_cursor(last)
        self._log = self.decisions_path.open("ab")
        return Recovered(last, accounts, count, rolled)

    def append_decision(self, record: dict[str, Any]) -> None:
        """Appends one decision and makes it durable before the cursor may move past it."""
        assert self._log is not None, "recover() first"
        self._log.write(json.dumps(record, sort_keys=True).encode() + b"\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    def save_cursor(self, last_sequence: int) -> None:
        """Atomically replaces the cursor file (write, fsync, rename, fsync the directory)."""
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        body = json.dumps({"version": STATE_VERSION, "last_sequence": last_sequence})
        with tmp.open("w") as out:
            out.write(body + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.state_path)
        _fsync_dir(self.state_path.parent)

    def _read_cursor(self) -> int:
        if not self.state_path.exists():
            return 0
        data = json.loads(self.state_path.read_text())
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_path}: unknown state version {data.get('version')}")
        return int(data["last_sequence"])

    def _cut_torn_tail(self) -> None:
        if not self.decisions_path.exists():
            return
        with self.decisions_path.open("r+b") as log:
            size = log.seek(0, os.SEEK_END)
            if size == 0:
                return
            log.seek(size - 1)
            if log.read(1) == b"\n":
                return
            # Find the last complete line; everything after it was never acknowledged.
            log.seek(0)
            data = log.read()
            keep = data.rfind(b"\n") + 1
            log.truncate(keep)
            os.fsync(log.fileno())
            logger.warning("cut a torn decision record (%d bytes) off the log", size - keep)
