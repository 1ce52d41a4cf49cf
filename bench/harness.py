"""The measuring instrument of ``make bench``: servers, timed process trees, the machine.

Every contender runs as one process tree (a pipeline runs under ``bash -o
pipefail``), and is measured the same way:

- wall time, from ``Popen`` to the reaping of the root process;
- peak RSS of the whole tree: a thread walks ``/proc/PID/task/*/children``
  from the root every ``POLL`` seconds and sums ``VmRSS`` (``/proc/PID/statm``)
  over the tree. Shared pages count once per process, so the sum is an upper
  bound; the PSS sum (shared pages split between their users) is kept beside it;
- client CPU: user + system seconds of the tree, from ``os.wait4`` on the root
  (the kernel adds every reaped descendant's time to its parent's). The
  database servers' backends are not part of the tree and are not counted.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
POLL = 0.1  # seconds between two samples of a process tree
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the PostgreSQL server -------------------------------------------------------------


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str | None
    bindir: Path | None = None

    @classmethod
    def parse(cls, url: str) -> Server:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
        )

    def url(self, db: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{db}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, db: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=db,
            autocommit=True,
        )

    def one(self, query: str, db: str = "postgres", args: Sequence[Any] = ()) -> Any:
        with self.connect(db) as conn:
            row = conn.execute(query, args or None).fetchone()
            return row[0] if row else None

    def drop(self, *names: str) -> None:
        with self.connect() as conn:
            for name in names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def drop_like(self, prefix: str) -> None:
        """``prefix`` and every generation datacloner left beside it."""
        with self.connect() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                    (prefix, prefix.replace("_", r"\_") + r"\_\_dc\_%"),
                )
            ]
        self.drop(*names)

    def create(self, name: str) -> None:
        self.drop(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def comment(self, name: str) -> str | None:
        return self.one(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            args=(name,),
        )

    def set_comment(self, name: str, text: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(text)
                )
            )

    def checkpoint(self) -> None:
        """Flush the previous step's dirty pages so the next timing does not pay for them."""
        with contextlib.suppress(psycopg.Error), self.connect() as conn:
            conn.execute("CHECKPOINT")

    def tool(self, name: str) -> str:
        """A PostgreSQL client program of the server's major version."""
        if self.bindir is None:
            major = int(self.one("SHOW server_version_num")) // 10000
            candidates = [os.environ.get("DATACLONER_PG_BIN", "")]
            candidates += [f"/usr/lib/postgresql/{major}/bin", f"/usr/pgsql-{major}/bin"]
            found = next(
                (Path(c) for c in candidates if c and (Path(c) / "pg_dump").exists()), None
            )
            if found is None:
                on_path = shutil.which("pg_dump")
                if on_path is None:
                    raise SystemExit("pg_dump not found: set DATACLONER_PG_BIN")
                found = Path(on_path).parent
            self.bindir = found
        return str(self.bindir / name)


def run(cmd: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> str:
    """An untimed setup step; its failure stops the benchmark."""
    done = subprocess.run(cmd, env=env, capture_output=True, **kwargs)
    if done.returncode != 0:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode(errors="replace")
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{err[-4000:]}")
    out = done.stdout
    return out if isinstance(out, str) else out.decode(errors="replace")


# --- a timed process tree ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(c) for c in f.read().split())
    return found


def _pss(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _image(pid: int) -> tuple[bytes, bytes]:
    """The program and memory of a process as /proc shows them (cmdline, statm);
    empty once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f, open(f"/proc/{pid}/statm", "rb") as m:
            return f.read(), m.read()
    except OSError:
        return b"", b""


def _resident(statm: bytes) -> int:
    """RSS in bytes from a statm line (its second field, in pages)."""
    fields = statm.split()
    return int(fields[1]) * PAGE if len(fields) > 1 else 0


class TreeRss(threading.Thread):
    """Polls a process tree's summed RSS every ``POLL`` seconds; keeps the peak."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop = threading.Event()
        self.peak_tree = 0
        self.peak_pss = 0
        self.max_procs = 0
        self.samples = 0

    def run(self) -> None:
        while not self.stop.is_set():
            tree, sizes, todo = [], [], [(self.root, (b"", b""))]
            while todo:
                pid, parent = todo.pop()
                tree.append(pid)
                image = _image(pid)
                # a child caught between (v)fork and exec (a --jobs worker starting
                # its psql) is its parent's program in its parent's pages, to the
                # page: its RSS is the parent's again, not memory of its own. A
                # forked worker that runs on (pg_dump -j, pgcopydb) soon differs
                # in its pages and counts. PSS splits shared pages either way.
                sizes.append(0 if image[0] and image == parent else _resident(image[1]))
                todo.extend((child, image) for child in _children(pid))
            self.peak_tree = max(self.peak_tree, sum(sizes))
            self.peak_pss = max(self.peak_pss, sum(_pss(pid) for pid in tree))
            self.max_procs = max(self.max_procs, sum(1 for s in sizes if s))
            self.samples += 1
            self.stop.wait(POLL)


@dataclass
class Measured:
    seconds: float
    peak_tree: int  # bytes, RSS summed over the tree, highest sample
    peak_pss: int
    cpu: float  # user + system seconds of the whole tree
    processes: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self) -> str:
        """The last meaningful line of stderr, for the table's note."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return f"failed (exit {self.returncode}): {lines[-1][:160] if lines else 'no output'}"


def measured(cmd: list[str], env: dict[str, str]) -> Measured:
    """Run ``cmd`` with its process tree watched; a failure is returned, not raised."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        monitor = TreeRss(proc.pid)
        monitor.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        monitor.stop.set()
        monitor.join()
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds=seconds,
            peak_tree=monitor.peak_tree,
            peak_pss=monitor.peak_pss,
            cpu=usage.ru_utime + usage.ru_stime,
            processes=monitor.max_procs,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def shell(script: str) -> list[str]:
    """A pipeline as one process tree; any stage failing fails it."""
    return ["bash", "-o", "pipefail", "-e", "-c", script]


# --- the machine ------------------------------------------------------------------------


def _busy_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def background_cpus(seconds: float = 1.0) -> float:
    """CPUs kept busy by others just before a timed step (nothing of ours runs then)."""
    busy0, total0 = _busy_ticks()
    time.sleep(seconds)
    busy1, total1 = _busy_ticks()
    cpus = len(os.sched_getaffinity(0))
    return (busy1 - busy0) / max(total1 - total0, 1) * cpus


def commit() -> str:
    """The checkout's short commit, ``-dirty`` when files differ from it."""
    text = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=7"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return text or "unknown"


def version_of(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0].strip() if done.returncode == 0 and text else None


def machine(server: Server) -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    settings = {}
    with server.connect() as conn:
        version = conn.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
        for name in ("shared_buffers", "max_wal_size", "synchronous_commit", "fsync"):
            settings[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "datacloner commit": commit(),
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": model,
        "memory": memory,
        "PostgreSQL": version.split(" on ")[0],
        "PostgreSQL settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
        "pg_dump": version_of([server.tool("pg_dump"), "--version"]) or "?",
        "pgcopydb": (version_of(["pgcopydb", "--version"]) or "not installed").split(" from ")[0],
        "Python": platform.python_version(),
    }
