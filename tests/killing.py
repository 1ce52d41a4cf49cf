"""kill -9 a real `datacloner refresh` at a moment seen from outside: the stage
events `--json` writes on stderr, and the locks the run waits on in the server.
No switch inside datacloner: the run does exactly what it does in production."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg


class Run:
    """``datacloner refresh ENV -c CFG --yes --json``, its stage events read as
    they come."""

    def __init__(self, cfg: Path, env_name: str = "staging", *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATACLONER_")}
        if "DATACLONER_PG_BIN" in os.environ:
            env["DATACLONER_PG_BIN"] = os.environ["DATACLONER_PG_BIN"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "datacloner.cli", "refresh", env_name, "-c", str(cfg)]
            + ["--yes", "--json", *extra],
            env=env,
            cwd=cfg.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stages: list[str] = []
        self.lines: list[str] = []
        self._events: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "stage":
                self.stages.append(event["stage"])
                self._events.put(event["stage"])
        self._events.put(None)  # stderr closed: the run ended

    def wait_stage(self, stage: str, timeout: float = 60) -> None:
        """Until the run announces ``stage`` (fails if it ends or times out first)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError(
                    f"no {stage!r} stage within {timeout}s: {self.stages}"
                ) from None
            if got == stage:
                return
            if got is None:
                self.proc.wait(timeout=30)
                raise AssertionError(
                    f"the run ended (exit {self.proc.returncode}) before {stage!r}: "
                    + "".join(self.lines)[-800:]
                )

    def wait_for(self, what: str, ready: Callable[[], object], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended before {what}: {''.join(self.lines)[-800:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"never saw {what}")
            time.sleep(0.02)

    def wait(self, timeout: float = 60) -> int:
        """Until the run ends by itself; its exit code, all its output read."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return code

    def kill(self) -> None:
        """kill -9: no cleanup, no signal handler, nothing runs in the process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL, (self.proc.returncode, self.lines)


def waiting_on_lock(pg, database: str, query_prefix: str) -> bool:
    """A session of ``database`` runs a statement starting ``query_prefix`` and
    waits for a lock another session holds."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            (database, query_prefix + "%"),
        ).fetchone()
    return bool(row[0])


def blocked(pg, query_prefix: str) -> bool:
    """A datacloner session runs a statement starting ``query_prefix`` and
    waits for a lock another session holds."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'datacloner' "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            (query_prefix + "%",),
        ).fetchone()
    return bool(row[0])


def renaming_blocked(pg, new: str) -> bool:
    """The run's rename of the new copy waits for a lock (the swap's
    transaction is open, the renames before it done)."""
    return blocked(pg, f'ALTER DATABASE "{new}" RENAME')


def renamed_in_open_transaction(pg, target: str) -> bool:
    """The session renaming the new copy already holds the exclusive lock of an
    earlier rename in its transaction: the target's own, renamed away."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.application_name = 'datacloner' AND a.query LIKE 'ALTER DATABASE%%' "
            "AND l.locktype = 'object' AND l.classid = 'pg_database'::regclass "
            "AND l.objid = (SELECT oid FROM pg_database WHERE datname = %s) "
            "AND l.mode = 'AccessExclusiveLock' AND l.granted",
            (target,),
        ).fetchone()
    return bool(row[0])


def gone(pg, new: str, within: float = 30) -> None:
    """Until the server has ended the killed run's session (it notices the
    dead client once the lock is released) and rolled its transaction back."""
    deadline = time.monotonic() + within
    while _sessions_of(pg, new):
        assert time.monotonic() < deadline, "the killed run's session never ended"
        time.sleep(0.05)


def _sessions_of(pg, new: str) -> int:
    """Sessions in the new copy, or working on it from elsewhere."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND (datname = %s OR query LIKE %s)",
            (new, f'%"{new}"%'),
        ).fetchone()
    return int(row[0])


def hold_rename_of(pg, new: str) -> psycopg.Connection:
    """Another session's lock on the new copy's database object, in an open
    transaction: ``ALTER DATABASE new RENAME`` waits for it (connections to
    the database, and everything else the run does before, do not)."""
    holder = pg.connect(autocommit=False)
    holder.execute(f"COMMENT ON DATABASE \"{new}\" IS 'held by the test'")
    return holder


def killed_before_sqlite_swap(folder: Path, before: dict[str, bytes]) -> bool:
    """After a kill at SQLite's "swap" event: True if it landed before the
    swap (the new file still aside, every generation as it was); else the swap
    had completed, and the new state must be whole (the old target is now the
    previous copy)."""
    if (folder / "dev.db.dc_new").exists():
        assert {name: (folder / name).read_bytes() for name in before} == before
        return True
    assert (folder / "dev.db").read_bytes() != before["dev.db"]
    assert (folder / "dev.db.prev").read_bytes() == before["dev.db"]
    return False
