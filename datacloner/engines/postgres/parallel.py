"""``--jobs N``: tables, and key ranges of big tables, copied by worker
processes (masking is CPU-bound Python, so threads would not help). Every
worker imports the leader's exported snapshot, so all of them read one
consistent picture; outputs do not depend on the number of workers because
masking is deterministic."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass

import psycopg

from datacloner.core import redaction, signals
from datacloner.core.catalog import QualifiedName
from datacloner.core.errors import Refused
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance
from datacloner.engines.postgres.connection import connect
from datacloner.engines.postgres.rows import KeyRange, copy_into
from datacloner.engines.postgres.source import PgSource
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker

# A table with fewer (estimated) rows is never split into key ranges. The
# runtime may pass another threshold (tests split small tables that way).
SPLIT_ROWS = 50_000
# Tasks per worker to aim for: small enough that no worker is left with a big
# table at the end while the others idle, few enough that each task's
# connection and snapshot import stay negligible.
TASKS_PER_JOB = 4
MAX_PARTS = 16
WORKER_EXIT_SECONDS = 2.0  # after terminate(), then kill()


@dataclass(frozen=True)
class Task:
    plan: TablePlan
    key_range: KeyRange | None = None


@dataclass(frozen=True)
class Job:
    """What a worker needs; picklable (a worker is a fresh process)."""

    source: dict[str, str]
    snapshot: str
    target: dict[str, str]
    secret: bytes
    batch_size: int


def _run(job: Job, task: Task) -> tuple[QualifiedName, int]:
    try:
        return _copy(job, task)
    except psycopg.Error as exc:
        # crosses to the leader, which prints it: value-free before it leaves
        raise Refused(
            f"copying {task.plan.name} failed: {redaction.database_error(exc)}",
            hint="the target was not changed",
        ) from None


def _copy(job: Job, task: Task) -> tuple[QualifiedName, int]:
    source = PgSource("", params=job.source, snapshot=job.snapshot, psql_reader=False)
    try:
        masker = TableMasker(task.plan, MaskerCache(compile_mask, job.secret))
        with connect(job.target, "new target", autocommit=False) as conn:
            conn.execute("SET synchronous_commit = off")
            rows = copy_into(
                conn, source, task.plan, masker, job.batch_size, lambda _n: None, task.key_range
            )
        return task.plan.table.qualified, rows
    finally:
        source.close()


def cost(plan: TablePlan) -> int:
    """A table's estimated work: its rows, once for the copy and once per masked
    column (masking is what takes the time, and it grows with the columns)."""
    return max(plan.table.row_estimate, 0) * (1 + len(plan.masked_columns))


def plan_tasks(
    source: PgSource, tables: list[TablePlan], jobs: int, split_rows: int = SPLIT_ROWS
) -> list[Task]:
    """Tables, big ones split into key ranges of about equal cost, the costliest
    first: the pool hands the next task to whichever worker is free, so the
    workers finish together."""
    costs = [cost(tp) for tp in tables]
    share = max(1, sum(costs) // (jobs * TASKS_PER_JOB))
    weighted: list[tuple[int, Task]] = []
    for tp, work in zip(tables, costs, strict=True):
        parts = min(MAX_PARTS, -(-work // share))
        ranges = source.key_ranges(tp, parts) if tp.table.row_estimate >= split_rows else []
        if ranges:
            weighted.extend((work // len(ranges), Task(tp, r)) for r in ranges)
        else:
            weighted.append((work, Task(tp)))
    weighted.sort(key=lambda item: -item[0])
    return [task for _, task in weighted]


def copy_parallel(
    source: PgSource,
    target: dict[str, str],
    tables: list[TablePlan],
    secret: bytes,
    batch_size: int,
    advance: Advance,
    jobs: int,
    split_rows: int | None = None,
) -> dict[QualifiedName, int]:
    job = Job(source.params, source.snapshot, target, secret, batch_size)
    tasks = plan_tasks(source, [t for t in tables if not t.skip], jobs, split_rows or SPLIT_ROWS)
    rows: dict[QualifiedName, int] = {t.table.qualified: 0 for t in tables}
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads
    pool: ProcessPoolExecutor | None = None
    try:
        # the workers start with the stop signals blocked, until signals.worker
        with signals.blocked():
            pool = ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=context,
                initializer=signals.worker,
                initargs=(os.getpid(),),
            )
            pending = {pool.submit(_run, job, task) for task in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
                name, count = future.result()
                rows[name] += count
                advance(count)
    except BaseException:
        if pool is not None:
            _stop(pool)
        raise
    assert pool is not None
    pool.shutdown()
    return rows


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now, mid-task: on a failure or a stop signal the new copy
    is dropped anyway, and ``shutdown`` alone would wait for every running (and
    queued) task. Runs to its end even if a stop signal arrives meanwhile."""
    with signals.held():
        workers = list((pool._processes or {}).values())  # no public way to end running tasks
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()
        for process in workers:
            process.join(WORKER_EXIT_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
