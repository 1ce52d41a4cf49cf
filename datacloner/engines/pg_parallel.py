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

from datacloner.catalog import QualifiedName
from datacloner.engines.base import Advance
from datacloner.engines.postgres import KeyRange, PgSource, connect, copy_into
from datacloner.masking import compile_mask
from datacloner.plan import TablePlan
from datacloner.table_masker import MaskerCache, TableMasker

# a table with at least this many (estimated) rows is split into key ranges
SPLIT_ROWS = int(os.environ.get("DATACLONER_SPLIT_ROWS", "250000"))


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


def plan_tasks(source: PgSource, tables: list[TablePlan], jobs: int) -> list[Task]:
    tasks: list[Task] = []
    for tp in tables:
        ranges = source.key_ranges(tp, jobs) if tp.table.row_estimate >= SPLIT_ROWS else []
        if ranges:
            tasks.extend(Task(tp, r) for r in ranges)
        else:
            tasks.append(Task(tp))
    # biggest first, so the last worker to finish is not the one with the big table
    return sorted(tasks, key=lambda t: -t.plan.table.row_estimate // (2 if t.key_range else 1))


def copy_parallel(
    source: PgSource,
    target: dict[str, str],
    tables: list[TablePlan],
    secret: bytes,
    batch_size: int,
    advance: Advance,
    jobs: int,
) -> dict[QualifiedName, int]:
    job = Job(source.params, source.snapshot, target, secret, batch_size)
    tasks = plan_tasks(source, [t for t in tables if not t.skip], jobs)
    rows: dict[QualifiedName, int] = {t.table.qualified: 0 for t in tables}
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending = {pool.submit(_run, job, task) for task in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                name, count = future.result()
                rows[name] += count
                advance(count)
    return rows
