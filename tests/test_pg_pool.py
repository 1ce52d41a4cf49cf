"""engines/postgres/pool.py: statements of the new copy over several connections
(ANALYZE and the health check's counts with --jobs), on a real server."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from datacloner.engines.postgres.pool import run_each

# waits (5 s at most) for the row the other statement inserts: it can only
# succeed when the two statements run at the same time, on two connections
WAIT_FOR_FLAG = (
    "DO $$ BEGIN FOR i IN 1..500 LOOP EXIT WHEN EXISTS (SELECT 1 FROM flag); "
    "PERFORM pg_sleep(0.01); END LOOP; IF NOT EXISTS (SELECT 1 FROM flag) THEN "
    "RAISE EXCEPTION 'ran alone'; END IF; END $$"
)


@pytest.fixture
def db(pg, run_id):
    name = f"dct_{run_id}_pool"
    pg.create(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE flag (n int)")
    yield name
    pg.drop(name)


def test_statements_run_side_by_side_and_answer_in_order(pg, db):
    queries = [
        sql.SQL(WAIT_FOR_FLAG),
        sql.SQL("INSERT INTO flag VALUES (1)"),
        *(sql.SQL("SELECT {}::int").format(n) for n in range(2, 6)),
    ]
    with pg.connect(db) as first:
        results = run_each(first, lambda: pg.connect(db), queries, jobs=2)
    assert results == [[], [], [(2,)], [(3,)], [(4,)], [(5,)]]


def test_one_job_runs_them_one_after_another(pg, db):
    queries = [sql.SQL(WAIT_FOR_FLAG), sql.SQL("INSERT INTO flag VALUES (1)")]
    with pg.connect(db) as first, pytest.raises(psycopg.errors.RaiseException):
        run_each(first, lambda: pg.connect(db), queries, jobs=1)


def test_a_failure_cancels_the_statements_beside_it(pg, db):
    queries = [sql.SQL("SELECT pg_sleep(120)"), sql.SQL("SELECT 1 / 0")]
    began = time.monotonic()
    with pg.connect(db) as first, pytest.raises(psycopg.errors.DivisionByZero):
        run_each(first, lambda: pg.connect(db), queries, jobs=2)
    assert time.monotonic() - began < 60  # cancelled, not waited for
    with pg.connect(db) as conn:  # and no statement of the pool is left running
        assert not conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE 'SELECT pg_sleep%%'",
            (db,),
        ).fetchall()
