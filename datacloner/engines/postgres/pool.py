"""Independent statements over several connections to the new copy.

After the post-data section, each table's ``ANALYZE`` and the health check's
row counts read every table again; on one connection they leave the other
cores idle for seconds at a million rows. With ``--jobs N`` they run over N
connections instead, the largest tables first, so no connection is left with
a big table at the end.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import psycopg
from psycopg import sql

Query = sql.Composable


def run_each(
    first: psycopg.Connection,
    connect_more: Callable[[], psycopg.Connection],
    queries: Sequence[Query],
    jobs: int,
) -> list[list[tuple[Any, ...]]]:
    """Every query's rows, in the order given, each query run by whichever
    connection is free next: ``first`` (in autocommit) and up to ``jobs - 1``
    more from ``connect_more`` (closed here). The first error is raised once
    the statements running beside it are cancelled."""
    results: list[list[tuple[Any, ...]]] = [[] for _ in queries]
    if jobs <= 1 or len(queries) <= 1:
        for n, query in enumerate(queries):
            results[n] = _rows(first, query)
        return results
    conns = [first]
    try:
        for _ in range(min(jobs, len(queries)) - 1):
            conns.append(connect_more())
        _run(conns, queries, results)
    finally:
        for conn in conns[1:]:
            with contextlib.suppress(psycopg.Error):
                conn.close()
    return results


def _rows(conn: psycopg.Connection, query: Query) -> list[tuple[Any, ...]]:
    cur = conn.execute(query)
    return cur.fetchall() if cur.description is not None else []


def _run(
    conns: list[psycopg.Connection], queries: Sequence[Query], results: list[list[Any]]
) -> None:
    lock = threading.Lock()
    todo = iter(range(len(queries)))
    errors: list[BaseException] = []  # the first one is the cause; the rest were cancelled

    def work(conn: psycopg.Connection) -> None:
        while not errors:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            try:
                results[n] = _rows(conn, queries[n])
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                raise  # wakes the wait below

    with ThreadPoolExecutor(len(conns), thread_name_prefix="new-copy") as pool:
        futures = [pool.submit(work, conn) for conn in conns]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            if errors or not all(f.done() for f in futures):  # a failure or a stop
                for conn in conns:
                    with contextlib.suppress(psycopg.Error):
                        conn.cancel()
    if errors:
        raise errors[0]
