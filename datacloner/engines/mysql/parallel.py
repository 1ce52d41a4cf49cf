"""``--jobs`` on MySQL/MariaDB: several readers on one snapshot.

MySQL cannot export a snapshot to another session. As mydumper and MySQL
Shell do, every worker session starts its consistent-snapshot transaction
while one control session holds ``FLUSH TABLES WITH READ LOCK``: no write
can commit in between, so all of them see the same moment. The lock is held
only while the sessions start (milliseconds, plus the wait for running
statements, bounded by ``lock_wait_timeout``). Without the RELOAD privilege
(or when the lock cannot be had in time) the copy falls back to the one
snapshot session, table by table, and says so.

Workers are threads, each with its own source and target session; tables are
handed out largest first. Reads and writes wait on the servers, outside the
GIL; masking shares one core.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

import pymysql

from datacloner.core.catalog import QualifiedName
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance
from datacloner.engines.mysql.connection import connect, error_text, run
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker

SNAPSHOT_LOCK_WAIT = 10  # seconds FLUSH TABLES WITH READ LOCK may wait for running statements


def snapshot_sessions(source: Any, count: int) -> tuple[list[Any], str | None]:
    """``count`` source sessions that all see one snapshot, or none and why."""
    control = connect(source.params, "source")
    sessions: list[Any] = []
    try:
        run(control, "SET SESSION lock_wait_timeout = %s", (SNAPSHOT_LOCK_WAIT,))
        try:
            run(control, "FLUSH TABLES WITH READ LOCK")
        except pymysql.err.MySQLError as exc:
            return [], f"FLUSH TABLES WITH READ LOCK was refused ({error_text(exc)})"
        try:
            for _ in range(count):
                conn = connect(source.params, "source", database=source.schema)
                sessions.append(conn)
                run(conn, "SET SESSION net_write_timeout = 3600, net_read_timeout = 3600")
                run(conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                run(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        finally:
            run(control, "UNLOCK TABLES")
    except BaseException:
        for conn in sessions:
            with contextlib.suppress(Exception):
                conn.close()
        raise
    finally:
        with contextlib.suppress(Exception):
            control.close()
    return [source.sibling(conn) for conn in sessions], None


def copy_parallel(
    tables: list[TablePlan],
    readers: list[Any],
    writer: Callable[[], Any],
    secret: bytes,
    batch_size: int,
    advance: Advance,
) -> dict[QualifiedName, int]:
    """Copy ``tables`` with one thread per reader; ``writer()`` gives a build
    session (``copy_table``) for one thread. The first failure stops all."""
    todo: queue.Queue[TablePlan] = queue.Queue()
    for tp in sorted(tables, key=lambda t: -t.table.row_estimate):
        todo.put(tp)
    loaded: dict[QualifiedName, int] = {}
    failed: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def counted(n: int) -> None:
        with lock:
            advance(n)

    def work(reader: Any) -> None:
        cache = MaskerCache(compile_mask, secret)  # per thread: maskers keep state
        try:
            session = writer()
        except BaseException as exc:
            failed.append(exc)
            stop.set()
            return
        try:
            while not stop.is_set():
                try:
                    tp = todo.get_nowait()
                except queue.Empty:
                    return
                rows = session.copy_from(reader, tp, TableMasker(tp, cache), batch_size, counted)
                with lock:
                    loaded[tp.table.qualified] = rows
        except BaseException as exc:
            failed.append(exc)
            stop.set()
        finally:
            session.close_session()

    threads = [threading.Thread(target=work, args=(r,), daemon=True) for r in readers]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()  # a stop signal: the threads end at their next batch
        raise
    if failed:
        raise failed[0]
    return loaded
