"""A ``--jobs`` worker process (started by parallel.py, see ``command``).

It imports what copying a table takes (psycopg, the source reader, the
maskers) and nothing else: never the CLI, Typer or SQLAlchemy, so it is ready
in a fraction of the time the CLI takes to import. It opens one source
session in the leader's exported snapshot and one connection to the new copy,
and keeps both for every batch of tasks the leader hands it.

The leader talks to it over its stdin and stdout: each message is a pickle
preceded by its length. It sends the ``Job`` first, then batches of tasks
(``None``: no more); the worker answers each batch with ``("done", [(table,
rows), ...])`` or ``("failed", exception)``. The worker's own stdout is moved
to its stderr, so nothing else can slip into the answers.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import psycopg

from datacloner.core import redaction, signals
from datacloner.core.catalog import QualifiedName
from datacloner.core.errors import Refused
from datacloner.core.plan import TablePlan
from datacloner.engines.postgres.connection import connect_new_copy
from datacloner.engines.postgres.rows import KeyRange, copy_into
from datacloner.engines.postgres.source import PgSource
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker

if TYPE_CHECKING:
    from datacloner.engines.postgres.subset import Selection

_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True)
class Task:
    plan: TablePlan
    key_range: KeyRange | None = None


@dataclass(frozen=True)
class Job:
    """What a worker needs for all its tasks (sent once)."""

    source: dict[str, str]
    snapshot: str
    target: dict[str, str]
    secret: bytes
    batch_size: int
    selection: Selection | None = None  # a subset's rows to read


def command(leader: int) -> list[str]:
    """The worker's command line: this module's ``main`` run by the leader's
    interpreter, with this very package first on its path (``-P``: not the
    current folder's)."""
    root = str(Path(__file__).resolve().parents[3])
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from datacloner.engines.postgres.worker import main; main(int(sys.argv[2]))"
    )
    return [sys.executable, "-P", "-c", code, root, str(leader)]


def send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


class Closed(Exception):
    """The other end of the pipe is gone."""


def receive(stream: IO[bytes]) -> Any:
    head = _exactly(stream, _LENGTH.size)
    (size,) = _LENGTH.unpack(head)
    return pickle.loads(_exactly(stream, size))


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise Closed
        data += chunk
    return data


class _Copier:
    """One source session and one target connection for every task."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.cache = MaskerCache(compile_mask, job.secret)
        # big tables read by a psql child, as in one job: psycopg hands COPY over
        # row by row through Python, about 1 µs a row more of this process's CPU
        self.source = PgSource("", params=job.source, snapshot=job.snapshot)
        self.source.selection = job.selection  # closed with the source
        try:
            self.target = connect_new_copy(job.target, autocommit=False)
        except BaseException:
            self.source.close()
            raise

    def copy(self, task: Task) -> tuple[QualifiedName, int]:
        masker = TableMasker(task.plan, self.cache)
        rows = copy_into(
            self.target,
            self.source,
            task.plan,
            masker,
            self.job.batch_size,
            lambda _n: None,
            task.key_range,
        )
        return task.plan.table.qualified, rows

    def close(self) -> None:
        self.target.close()
        self.source.close()


def _failed(task: Task, exc: psycopg.Error) -> Refused:
    # crosses to the leader, which prints it: value-free before it leaves
    return Refused(
        f"copying {task.plan.name} failed: {redaction.database_error(exc)}",
        hint="the target was not changed",
    )


def _answer(error: BaseException) -> tuple[str, BaseException]:
    try:
        pickle.dumps(error)
    except Exception:  # an exception that cannot cross: its kind only (never its text)
        error = RuntimeError(f"{type(error).__name__} in a --jobs worker")
    return ("failed", error)


def main(leader: int) -> None:
    signals.worker(leader)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, never into the answers
    tasks = sys.stdin.buffer
    copier: _Copier | None = None
    try:
        job: Job = receive(tasks)
        while (batch := receive(tasks)) is not None:
            done: list[tuple[QualifiedName, int]] = []
            try:
                for task in batch:
                    try:
                        if copier is None:  # opened once, for every batch
                            copier = _Copier(job)
                        done.append(copier.copy(task))
                    except psycopg.Error as exc:
                        raise _failed(task, exc) from None
            except Exception as exc:
                send(answers, _answer(exc))
                return  # the leader stops the run
            send(answers, ("done", done))
    except Closed:
        return  # the leader is gone or stopped us
    finally:
        if copier is not None:
            # the leader has its answer; on a failure the copy is dropped anyway
            with contextlib.suppress(psycopg.Error):
                copier.close()
