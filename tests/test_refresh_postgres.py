"""PostgreSQL engine behaviour a user relies on: a killed refresh leaves the
target serving, the source is read-only, clear errors for missing privileges
and client programs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from helpers import run_cli, run_in_process, write_config
from pgcompare import columns_digest

from datacloner.core.errors import Refused, UsageError
from datacloner.engines.postgres.source import PgSource
from datacloner.engines.postgres.tools import find_tools, psql_copy_out

BIG_ROWS = 300_000


@pytest.fixture(scope="module")
def big_src(pg, run_id):
    """One table large enough that a masked refresh takes a few seconds."""
    name = f"dct_{run_id}_big"
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute(
            "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, city text);"
            f"INSERT INTO people SELECT g, 'user' || g || '@corp.example', 'Paris' "
            f"FROM generate_series(1, {BIG_ROWS}) g"
        )
    yield pg.url(name)
    pg.drop(name)


def _rules(folder: Path, email_rule: str = "email") -> Path:
    path = folder / "rules.yml"
    path.write_text(
        f"tables:\n  public.people:\n    mask:\n      email: {email_rule}\n    keep: [id, city]\n"
    )
    return path


def test_kill_during_the_load_leaves_the_target_serving(pg, big_src, target_name, tmp_path):
    cfg = write_config(tmp_path, big_src, _rules(tmp_path), {"dev": pg.url(target_name)})
    # the runs before and after the kill in this process (no second of imports each)
    first = run_in_process("refresh", "dev", "-c", str(cfg), "--yes", "--json")
    assert first.returncode == 0, first.stderr
    with pg.connect(target_name) as conn:
        before = columns_digest(conn, "public", "people", ["id", "email", "city"])

    # a different secret would change every masked value if it ever landed
    cfg = write_config(
        tmp_path,
        big_src,
        _rules(tmp_path),
        {"dev": pg.url(target_name)},
        secret="other-secret-0123456789",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "datacloner.cli", "refresh", "dev", "-c", str(cfg), "--yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        new = target_name + "__dc_new"
        deadline = time.monotonic() + 60
        loading = False
        while time.monotonic() < deadline and proc.poll() is None:
            if pg.exists(new):
                try:
                    with pg.connect(new) as conn:
                        loading = (
                            conn.execute(
                                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                "AND query LIKE 'COPY%%'",
                                (new,),
                            ).fetchone()[0]
                            > 0
                        )
                except psycopg.OperationalError:
                    loading = False
                if loading:
                    break
            time.sleep(0.05)
        assert loading, "the refresh never reached the data stage"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    with pg.connect(target_name) as conn:  # still serving the previous copy, unchanged
        assert columns_digest(conn, "public", "people", ["id", "email", "city"]) == before

    again = run_in_process("refresh", "dev", "-c", str(cfg), "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert not pg.exists(target_name + "__dc_new")
    with pg.connect(target_name) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == BIG_ROWS
        assert columns_digest(conn, "public", "people", ["id", "email", "city"]) != before


def test_source_session_is_read_only(big_src):
    source = PgSource(big_src)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            source.conn.execute("UPDATE people SET city = 'x' WHERE id = 1")
    finally:
        source.close()


def test_user_without_createdb_is_told_what_to_grant(pg, big_src, target_name, tmp_path):
    role = f"{target_name}_nocreate"
    with pg.connect() as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        target = f"postgresql://{role}@{pg.host}:{pg.port}/{target_name}"
        cfg = write_config(tmp_path, big_src, _rules(tmp_path), {"dev": target})
        done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
        assert done.returncode == 1
        assert "may not create databases" in done.stderr
        assert "CREATEDB" in done.stderr
        assert "Traceback" not in done.stderr
        assert not pg.exists(target_name + "__dc_new")
    finally:
        with pg.connect() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_no_pg_dump_new_enough_fails_clearly():
    with pytest.raises(UsageError) as caught:
        find_tools(99)
    assert "no pg_dump new enough for the PostgreSQL 99 server" in caught.value.message
    assert "postgresql-client-99" in (caught.value.hint or "")
    assert caught.value.exit_code == 2


def test_pg_dump_matches_the_server_major(big_src):
    source = PgSource(big_src)
    try:
        assert source.tools.major == source.server_major
    finally:
        source.close()


def test_rows_are_read_in_the_refresh_snapshot(pg, big_src):
    """The psql child that reads a table imports the refresh's snapshot: a row
    committed after the refresh began is not read, however long the copy takes."""
    source = PgSource(big_src)
    try:
        with pg.connect(big_src.rsplit("/", 1)[1]) as conn:
            conn.execute(
                "INSERT INTO people VALUES (%s, 'late@corp.example', 'Oslo')", (BIG_ROWS + 1,)
            )
        try:
            query = "COPY people (id) TO STDOUT"
            with psql_copy_out(source.tools, source.params, source.snapshot, query, 4096) as blocks:
                data = b"".join(blocks)
            assert data.count(b"\n") == BIG_ROWS
            assert f"\n{BIG_ROWS + 1}\n".encode() not in data
        finally:
            with pg.connect(big_src.rsplit("/", 1)[1]) as conn:
                conn.execute("DELETE FROM people WHERE id = %s", (BIG_ROWS + 1,))
    finally:
        source.close()


def test_a_failed_read_is_refused_not_taken_for_an_empty_table(big_src):
    source = PgSource(big_src)
    try:
        query = "COPY nosuch TO STDOUT"
        with (
            pytest.raises(Refused) as caught,
            psql_copy_out(source.tools, source.params, source.snapshot, query, 4096) as blocks,
        ):
            assert b"".join(blocks) == b""  # the error comes once the output is read
        assert 'relation "nosuch" does not exist' in caught.value.message
    finally:
        source.close()
