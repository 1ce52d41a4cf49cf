"""``--jobs N``: tables, and key ranges of big tables, copied by worker
processes (masking is CPU-bound Python, so threads would not help). Every
worker imports the leader's exported snapshot, so all of them read one
consistent picture; outputs do not depend on the number of workers because
masking is deterministic.

The workers are plain child processes running worker.py (not
multiprocessing, whose spawned children import the leader's ``__main__``,
the whole CLI with it); each keeps its connections for the whole run. Work
goes out in batches: a big table alone (or one key range of it), small
tables many at a time, so a thousand small tables cost a few dozen round
trips, not a thousand; the costliest batches go first, so the workers finish
together.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess

from datacloner.core import signals
from datacloner.core.catalog import QualifiedName
from datacloner.core.errors import Refused
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance
from datacloner.engines.postgres.source import PgSource
from datacloner.engines.postgres.worker import Closed, Job, Task, command, receive, send

__all__ = [
    "Job",
    "Task",
    "copy_parallel",
    "cost",
    "plan_batches",
    "plan_tasks",
    "spawn",
    "stop",
]

# A table with fewer (estimated) rows is never split into key ranges. The
# runtime may pass another threshold (tests split small tables that way).
SPLIT_ROWS = 50_000
# Tasks per worker to aim for: small enough that no worker is left with a big
# table at the end while the others idle, few enough that each task's
# round trip stays negligible.
TASKS_PER_JOB = 4
MAX_PARTS = 16
# What a table costs whatever its size (a COPY each way, a commit, a masker
# compiled), in rows' worth of work: it sizes the batches of small tables.
TASK_OVERHEAD = 2_000
MAX_BATCH = 64  # tables in one batch: progress still moves
WORKER_EXIT_SECONDS = 2.0  # after terminate(), then kill()


def cost(plan: TablePlan, rows: int | None = None) -> int:
    """A table's estimated work: its rows (``rows``, else the catalog's
    estimate), once for the copy and once per masked column (masking is what
    takes the time, and it grows with the columns)."""
    rows = plan.table.row_estimate if rows is None else rows
    return max(rows, 0) * (1 + len(plan.masked_columns))


def _weighted(
    source: PgSource, tables: list[TablePlan], jobs: int, split_rows: int
) -> tuple[list[tuple[int, Task]], int]:
    """(work, task) pairs, costliest first, and the work one task aims at."""
    # a subset's tables weigh what it selected, not what the source holds
    rows = [source.rows(tp) for tp in tables]
    costs = [cost(tp, n) for tp, n in zip(tables, rows, strict=True)]
    share = max(1, sum(costs) // (jobs * TASKS_PER_JOB))
    weighted: list[tuple[int, Task]] = []
    selected = source.selection.names if source.selection is not None else {}
    for tp, n, work in zip(tables, rows, costs, strict=True):
        parts = min(MAX_PARTS, -(-work // share))
        # a subset's few but costly rows (a user's many masked columns) are
        # shared out too: ranges of blocks cost no read of the whole table
        split = n >= split_rows or tp.table.qualified in selected
        ranges = source.key_ranges(tp, parts) if split else []
        if ranges:
            weighted.extend((work // len(ranges), Task(tp, r)) for r in ranges)
        else:
            weighted.append((work, Task(tp)))
    weighted.sort(key=lambda item: -item[0])
    return weighted, share


def plan_tasks(
    source: PgSource, tables: list[TablePlan], jobs: int, split_rows: int = SPLIT_ROWS
) -> list[Task]:
    """Tables, big ones split into key ranges of about equal cost, the costliest
    first."""
    return [task for _, task in _weighted(source, tables, jobs, split_rows)[0]]


def plan_batches(
    source: PgSource, tables: list[TablePlan], jobs: int, split_rows: int = SPLIT_ROWS
) -> list[list[Task]]:
    """The tasks in batches, the costliest first: a task worth a batch of its
    own goes alone, smaller ones are packed (in order) up to about a task's
    share of the work, counting each table's fixed cost too."""
    weighted, share = _weighted(source, tables, jobs, split_rows)
    total = sum(work + TASK_OVERHEAD for work, _ in weighted)
    limit = max(share, total // (jobs * TASKS_PER_JOB))
    batches: list[tuple[int, list[Task]]] = []
    current: list[Task] = []
    current_work = 0
    for work, task in weighted:
        work += TASK_OVERHEAD
        if current and (current_work + work > limit or len(current) >= MAX_BATCH):
            batches.append((current_work, current))
            current, current_work = [], 0
        current.append(task)
        current_work += work
    if current:
        batches.append((current_work, current))
    batches.sort(key=lambda item: -item[0])  # stable: packed in cost order already
    return [batch for _, batch in batches]


Worker = subprocess.Popen[bytes]


def spawn(count: int) -> list[Worker]:
    """``count`` worker processes, waiting for their Job: started before the
    rows are planned, they import while the schema (or a subset's selection)
    loads. The caller stops them (``stop``) if it never hands them to
    ``copy_parallel``."""
    workers: list[Worker] = []
    try:
        # the workers start with the stop signals blocked, until signals.worker
        with signals.blocked():
            for _ in range(count):
                workers.append(
                    subprocess.Popen(
                        command(os.getpid()), stdin=subprocess.PIPE, stdout=subprocess.PIPE
                    )
                )
    except BaseException:
        stop(workers)
        raise
    return workers


def copy_parallel(
    source: PgSource,
    target: dict[str, str],
    tables: list[TablePlan],
    secret: bytes,
    batch_size: int,
    advance: Advance,
    jobs: int,
    split_rows: int | None = None,
    started: list[Worker] | None = None,
) -> dict[QualifiedName, int]:
    """The tables' rows over ``jobs`` workers (``started``: those spawned
    already, which this call takes over and ends)."""
    workers = list(started or [])
    try:
        job = Job(source.params, source.snapshot, target, secret, batch_size, source.selection)
        batches = plan_batches(
            source, [t for t in tables if not t.skip], jobs, split_rows or SPLIT_ROWS
        )
        needed = min(jobs, len(batches))
        for idle in workers[needed:]:  # more than the batches: told there is nothing
            _close_pipes(idle)
            idle.wait()
        del workers[needed:]
        workers += spawn(needed - len(workers))
        rows: dict[QualifiedName, int] = {t.table.qualified: 0 for t in tables}
        _drive(workers, job, batches, rows, advance)
    except BaseException:
        stop(workers)
        raise
    for worker in workers:
        worker.wait()
        _close_pipes(worker)
    return rows


def _close_pipes(worker: Worker) -> None:
    for pipe in (worker.stdin, worker.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _ended(worker: Worker) -> Refused:
    return Refused(
        f"a --jobs worker process ended unexpectedly (exit status {worker.wait()})",
        hint="the target was not changed; see the messages above",
    )


def _give(worker: Worker, message: object) -> None:
    assert worker.stdin is not None
    try:
        send(worker.stdin, message)
    except BrokenPipeError:
        raise _ended(worker) from None


def _drive(
    workers: list[Worker],
    job: Job,
    batches: list[list[Task]],
    rows: dict[QualifiedName, int],
    advance: Advance,
) -> None:
    """Hand the batches to whichever worker is free, in order, until all are done."""
    todo = list(reversed(batches))
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            _give(worker, job)
            _give(worker, todo.pop())
            selector.register(worker.stdout, selectors.EVENT_READ, worker)
        busy = len(workers)
        while busy:
            for key, _ in selector.select():
                worker = key.data
                try:
                    status, answer = receive(worker.stdout)
                except Closed:
                    raise _ended(worker) from None
                if status == "failed":
                    raise answer
                for name, count in answer:
                    rows[name] += count
                    advance(count)
                if todo:
                    _give(worker, todo.pop())
                else:
                    _give(worker, None)  # no more: it closes its connections and ends
                    selector.unregister(worker.stdout)
                    busy -= 1


def stop(workers: list[Worker]) -> None:
    """End the workers now, mid-task: on a failure or a stop signal the new copy
    is dropped anyway. Runs to its end even if a stop signal arrives meanwhile."""
    with signals.held():
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.terminate()
        for worker in workers:
            try:
                worker.wait(WORKER_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            _close_pipes(worker)
