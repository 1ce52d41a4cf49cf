"""The environment lifecycle as staging lives it: swap with a reconnecting
client, rollback, keep N, locking, hooks, on_busy, and kill -9 at every moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from helpers import run_cli, scratch_db
from killing import (
    Run,
    gone,
    hold_rename_of,
    killed_before_sqlite_swap,
    renamed_in_open_transaction,
    renaming_blocked,
    waiting_on_lock,
)
from pgcompare import columns_digest

from datacloner.core.manifest import secret_fingerprint

ROWS = 3_000


# a source of ROWS people (scratch_db makes it)
PEOPLE = (
    "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, password text, city text);"
    "INSERT INTO people SELECT g, 'user' || g || '@corp.example', 'hunter2', 'Paris' "
    f"FROM generate_series(1, {ROWS}) g;"
)


@pytest.fixture(scope="module")
def small_src(pg, run_id):
    with scratch_db(pg, f"dct_{run_id}_life", PEOPLE) as name:
        yield pg.url(name)


def _config(
    folder: Path, source: str, target: str, secret: str = "one", env_extra: str = ""
) -> Path:
    (folder / "rules.yml").write_text(
        "tables:\n  public.people:\n    mask:\n      email: {faker: email, unique: true}\n"
        "      password: {value: x}\n    keep: [id, city]\n"
    )
    path = folder / "datacloner.yml"
    path.write_text(
        f"source: {source}\nsecret: {_long(secret)}\nrules: rules.yml\n"
        f"environments:\n  staging:\n    url: {target}\n{env_extra}"
    )
    return path


def _long(secret: str) -> str:
    """A secret of the 16 bytes a refresh needs, named by a short word."""
    return f"{secret}-secret-0123456789"


def _refresh(cfg: Path, *extra: str, env: dict[str, str] | None = None):
    return run_cli("refresh", "staging", "-c", str(cfg), "--yes", *extra, env=env)


def _stages(stderr: str) -> list[str]:
    """The stage events of a ``--json`` run's stderr."""
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e["stage"] for e in events if e.get("event") == "stage"]


def _digest(pg, name: str) -> str:
    with pg.connect(name) as conn:
        return columns_digest(conn, "public", "people", ["id", "email", "password", "city"])


def test_rollback_twice_returns_to_where_it_started_and_status_lists_copies(
    pg, small_src, target_name, tmp_path
):
    url = pg.url(target_name)
    assert _refresh(_config(tmp_path, small_src, url, "one")).returncode == 0
    first = _digest(pg, target_name)
    assert _refresh(_config(tmp_path, small_src, url, "two")).returncode == 0
    second = _digest(pg, target_name)
    assert first != second

    done = run_cli("status", "staging", "-c", str(tmp_path / "datacloner.yml"), "--json")
    assert done.returncode == 0, done.stderr
    copies = json.loads(done.stdout)
    assert [c["role"] for c in copies] == ["current", "previous"]
    assert copies[0]["name"] == target_name
    fingerprints = [c["manifests"][0]["secret_fingerprint"] for c in copies]
    assert fingerprints[0] != fingerprints[1]  # two secrets, neither of them printed
    assert all(c["manifests"][0]["rules_digest"].startswith("sha256:") for c in copies)
    assert copies[0]["manifests"][0]["source"]["database"] == small_src.rsplit("/", 1)[1]
    # the fingerprint identifies the secret without holding it
    assert fingerprints == [
        secret_fingerprint(_long("two").encode()),
        secret_fingerprint(_long("one").encode()),
    ]
    assert not any(_long(secret) in json.dumps(copies) for secret in ("one", "two"))

    cfg = str(tmp_path / "datacloner.yml")
    assert run_cli("rollback", "staging", "-c", cfg, "--yes").returncode == 0
    assert _digest(pg, target_name) == first
    assert run_cli("rollback", "staging", "-c", cfg, "--yes").returncode == 0
    assert _digest(pg, target_name) == second


def test_rollback_without_a_previous_copy_is_refused(pg, small_src, target_name, tmp_path):
    cfg = _config(tmp_path, small_src, pg.url(target_name))
    assert _refresh(cfg).returncode == 0
    pg.drop(target_name + "__dc_prev")
    done = run_cli("rollback", "staging", "-c", str(cfg), "--yes")
    assert done.returncode == 1
    assert "no previous copy" in done.stderr


def test_keep_two_generations(pg, small_src, target_name, tmp_path):
    url = pg.url(target_name)
    for secret in ("one", "two", "three"):
        cfg = _config(tmp_path, small_src, url, secret, env_extra="    keep: 2\n")
        assert _refresh(cfg).returncode == 0
    assert pg.exists(target_name + "__dc_prev") and pg.exists(target_name + "__dc_prev2")
    try:
        cfg = _config(tmp_path, small_src, url, "four", env_extra="    keep: 2\n")
        assert _refresh(cfg).returncode == 0
        assert not pg.exists(target_name + "__dc_prev3")
    finally:
        pg.drop(target_name + "__dc_prev2")


def test_a_second_refresh_while_one_runs_exits_at_once(pg, small_src, target_name, tmp_path):
    cfg = _config(tmp_path, small_src, pg.url(target_name))
    with pg.connect() as holder:  # what a running refresh holds
        holder.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"datacloner:{target_name}",)
        )
        started = time.monotonic()
        done = _refresh(cfg)
        assert time.monotonic() - started < 20
    assert done.returncode == 1
    assert "another datacloner run" in done.stderr
    assert not pg.exists(target_name) and not pg.exists(target_name + "__dc_new")


def test_after_hooks_run_in_the_new_copy_and_a_failing_hook_changes_nothing(
    pg, small_src, target_name, tmp_path
):
    (tmp_path / "dev.sql").write_text("UPDATE people SET password = 'devpass';\n")
    url = pg.url(target_name)
    cfg = _config(tmp_path, small_src, url, env_extra="    after: [dev.sql]\n")
    done = _refresh(cfg, "--json")
    assert done.returncode == 0, done.stderr
    # --json: the stages as they begin on stderr, the report alone on stdout
    assert _stages(done.stderr) == ["pre-data", "data", "post-data", "hooks", "manifest", "swap"]
    assert json.loads(done.stdout)["environment"] == "staging"
    with pg.connect(target_name) as conn:
        assert conn.execute("SELECT DISTINCT password FROM people").fetchall() == [("devpass",)]
    before = _digest(pg, target_name)

    (tmp_path / "dev.sql").write_text("UPDATE no_such_table SET x = 1;\n")
    done = _refresh(cfg, "--json")
    assert done.returncode == 1
    assert _stages(done.stderr)[-1] == "hooks"  # nothing announced after the failure
    assert "dev.sql failed" in done.stderr
    assert _digest(pg, target_name) == before
    assert not pg.exists(target_name + "__dc_new")


def test_on_busy_fail_gives_up_and_leaves_the_target(pg, small_src, target_name, tmp_path):
    url = pg.url(target_name)
    assert _refresh(_config(tmp_path, small_src, url)).returncode == 0
    before = _digest(pg, target_name)
    cfg = _config(tmp_path, small_src, url, "two", env_extra="    on_busy: fail\n")
    with pg.connect(target_name) as busy:
        busy.execute("SELECT 1")
        done = _refresh(cfg, "--drain-timeout", "0.5")
        assert done.returncode == 1
        assert "on_busy: fail" in done.stderr
        assert busy.execute("SELECT count(*) FROM people").fetchone()[0] == ROWS
    assert _digest(pg, target_name) == before
    assert not pg.exists(target_name + "__dc_new")


def test_a_reconnecting_client_is_answered_within_a_second_during_the_swap(
    pg, small_src, target_name, tmp_path
):
    url = pg.url(target_name)
    assert _refresh(_config(tmp_path, small_src, url, "one")).returncode == 0
    before = _digest(pg, target_name)
    answers: list[tuple[float, int]] = []
    stop = threading.Event()

    def probe() -> None:
        # what an application pool does: reconnect on failure, every 20 ms
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(**pg.params(target_name), autocommit=True)
                row = conn.execute("SELECT count(*) FROM datacloner.refreshes").fetchone()
                answers.append((time.monotonic(), row[0]))
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        time.sleep(0.3)
        done = _refresh(_config(tmp_path, small_src, url, "two"), "--drain-timeout", "0")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert "ended" in done.stderr  # the probe's session was ended for the swap
    times = [t for t, _ in answers]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) <= 1.0, f"longest time without an answer: {max(gaps):.2f}s"
    assert _digest(pg, target_name) != before  # it sees the new copy after the swap


HOOK_HELD = 4242  # the advisory lock the test hook waits for, when the test holds it


def hold_hook_lock(pg, database: str) -> psycopg.Connection:
    """A session of the new copy holding the lock the test hook waits for."""
    holder = pg.connect(database)
    holder.execute("SELECT pg_advisory_lock(%s)", (HOOK_HELD,))
    return holder


def _kill_at(pg, moment: str, cfg: Path, target: str) -> None:
    """kill -9 the refresh while it is in ``moment``, as seen from outside:
    its stage event, or the lock it waits on in the server."""
    new = target + "__dc_new"
    run = Run(cfg)
    try:
        if moment == "hooks":
            # the hook waits for an advisory lock of the new copy the test holds
            run.wait_stage("pre-data")  # held from the start: the hook cannot slip past
            with hold_hook_lock(pg, new):
                run.wait_for(
                    "the hook waiting", lambda: waiting_on_lock(pg, new, "SELECT pg_advisory")
                )
                run.kill()
        elif moment == "swap":
            # inside the renames' transaction: the target already renamed away
            # in it, the new copy's rename waiting for the test's lock
            run.wait_stage("pre-data")  # held from the start: the rename cannot slip past
            holder = hold_rename_of(pg, new)
            try:
                run.wait_for("the rename waiting", lambda: renaming_blocked(pg, new))
                assert renamed_in_open_transaction(pg, target)
                run.kill()
            finally:
                holder.rollback()  # the server ends the dead run's transaction: rolled back
                holder.close()
        else:
            # The test holds the hook's lock from the moment the new copy
            # exists, so however slow the machine, the run cannot get past its
            # hooks: the kill lands in `moment` (or, on a stalled machine, in a
            # later stage before the swap), never after the swap began.
            run.wait_stage("pre-data")
            holder = hold_hook_lock(pg, new)
            try:
                if moment != "pre-data":
                    run.wait_stage(moment)
                run.kill()
            finally:
                holder.close()
            assert moment in run.stages and "manifest" not in run.stages, run.stages
    finally:
        run.kill()
    gone(pg, new)
    assert pg.exists(new)  # killed before any cleanup: the swap never happened


@pytest.mark.parametrize("moment", ["pre-data", "data", "post-data", "hooks", "swap"])
def test_kill_9_at_any_moment_leaves_a_complete_copy(pg, small_src, target_name, tmp_path, moment):
    (tmp_path / "hook.sql").write_text(
        f"SELECT pg_advisory_xact_lock({HOOK_HELD});\n"
        "UPDATE people SET city = 'Lyon' WHERE id = 1;\n"
    )
    url = pg.url(target_name)
    extra = "    after: [hook.sql]\n"
    assert _refresh(_config(tmp_path, small_src, url, "one", extra)).returncode == 0
    before = _digest(pg, target_name)

    cfg = _config(tmp_path, small_src, url, "two", extra)
    _kill_at(pg, moment, cfg, target_name)
    assert _digest(pg, target_name) == before  # the old copy, complete and serving
    with pg.connect(target_name) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == ROWS

    again = _refresh(cfg)
    assert again.returncode == 0, again.stderr
    assert _digest(pg, target_name) != before
    assert not pg.exists(target_name + "__dc_new")
    assert not pg.exists(target_name + "__dc_tmp")


def test_rows_changed_after_the_load_fail_the_run_with_the_target_untouched(
    pg, run_id, target_name, tmp_path
):
    """Another session of the new copy deletes a loaded row while the run is
    held on a later table: the health check's count no longer matches what was
    loaded, and the run fails before the swap. The hold is the source's own:
    the later table's ``unless:`` takes a shared advisory lock this test holds
    (a lock, not a write: the source stays read-only), so no timing decides."""
    gate_table = (
        "CREATE TABLE zz_gate (id int PRIMARY KEY, note text);INSERT INTO zz_gate VALUES (1, 'n')"
    )
    with scratch_db(pg, f"dct_{run_id}_gate", PEOPLE + gate_table) as src:
        url = pg.url(target_name)
        cfg = _config(tmp_path, pg.url(src), url, "one")
        with (tmp_path / "rules.yml").open("a") as rules:
            rules.write(
                "  public.zz_gate:\n    mask:\n      note: {value: x}\n    keep: [id]\n"
                "    unless: pg_advisory_xact_lock_shared(4242) IS NULL\n"
            )
        assert _refresh(cfg).returncode == 0
        before = _digest(pg, target_name)
        new = target_name + "__dc_new"
        with pg.connect(src) as gate:
            gate.execute("SELECT pg_advisory_lock(4242)")
            run = Run(cfg)
            try:
                run.wait_for("people loaded", lambda: _committed_rows(pg, new) == ROWS)
                with pg.connect(new) as other:
                    other.execute("DELETE FROM people WHERE id = 7")
            finally:
                gate.execute("SELECT pg_advisory_unlock(4242)")
        assert run.wait() == 1
        told = "".join(run.lines)
        assert "health check: public.people has 2999 rows in the new copy, 3000 were loaded" in told
        assert "swap" not in run.stages
        assert _digest(pg, target_name) == before
        assert not pg.exists(new)


def _committed_rows(pg, db: str) -> int:
    """Rows of ``people`` committed in ``db`` (0 while it or the table is not there)."""
    try:
        with pg.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM people").fetchone()[0]
    except psycopg.Error:
        return 0


def test_sqlite_kill_in_the_swap_and_rollback(tmp_path):
    demo = Path(__file__).resolve().parent.parent / "examples" / "demo"
    subprocess.run(
        [sys.executable, str(demo / "make_source.py"), str(tmp_path / "source.db")], check=True
    )
    (tmp_path / "rules.yml").write_text((demo / "rules.yml").read_text())
    cfg = tmp_path / "datacloner.yml"

    def write(secret: str) -> None:
        cfg.write_text(
            f"source: sqlite:///source.db\nsecret: {_long(secret)}\nrules: rules.yml\n"
            "environments:\n  staging: {url: sqlite:///dev.db}\n"
        )

    write("one")
    assert _refresh(cfg).returncode == 0
    first = (tmp_path / "dev.db").read_bytes()
    write("two")
    run = Run(cfg)
    run.wait_stage("swap")  # the new file complete, its manifest written
    run.kill()
    # Nothing outside can pause SQLite's swap (two renames), so the kill lands
    # just before it or, on a stalled machine, just after: old state or new
    # state, whole either way.
    if not killed_before_sqlite_swap(tmp_path, {"dev.db": first}):
        # the swap completed: put the old file back to test the recovery below
        os.replace(tmp_path / "dev.db.prev", tmp_path / "dev.db")
    # what a kill between the swap's two steps leaves: the target under a second
    # name, the new file not yet in place; the next run finishes from there
    os.link(tmp_path / "dev.db", tmp_path / "dev.db.dc_hold")
    assert _refresh(cfg).returncode == 0
    assert not (tmp_path / "dev.db.dc_hold").exists()
    second = (tmp_path / "dev.db").read_bytes()
    assert second != first
    assert not (tmp_path / "dev.db.dc_new").exists()

    assert run_cli("rollback", "staging", "-c", str(cfg), "--yes").returncode == 0
    assert (tmp_path / "dev.db").read_bytes() == first
    assert run_cli("rollback", "staging", "-c", str(cfg), "--yes").returncode == 0
    assert (tmp_path / "dev.db").read_bytes() == second
    status = run_cli("status", "staging", "-c", str(cfg), "--json")
    assert [c["role"] for c in json.loads(status.stdout)] == ["current", "previous"]
