"""MySQL/MariaDB: kill -9 at every stage of a refresh leaves the target serving
its previous copy, and the next run succeeds. As for PostgreSQL
(test_lifecycle.py), the moment is seen from outside (the run's stage events,
the metadata locks it waits on in the server) and held there by the test's
own sessions, never by a switch in datacloner."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from conftest import MyServer
from helpers import write_config
from killing import Run

from datacloner.core.config import load_config
from datacloner.core.progress import QuietProgress
from datacloner.runtime import refresh as runtime

ROWS = 30
HOOK_LOCK = "dct_hook_held"  # the user lock the test hook waits for

SOURCE = (
    "CREATE TABLE a (id int PRIMARY KEY, email varchar(80), note varchar(20));"
    "CREATE TABLE b (id int PRIMARY KEY, a_id int, qty int, FOREIGN KEY (a_id) REFERENCES a(id));"
    "INSERT INTO a VALUES "
    + ", ".join(f"({i}, 'u{i}@corp.example', NULL)" for i in range(1, ROWS + 1))
    + "; INSERT INTO b VALUES "
    + ", ".join(f"({i}, {i}, {i * 10})" for i in range(1, ROWS + 1))
    + "; CREATE TRIGGER stamp BEFORE INSERT ON a FOR EACH ROW SET NEW.note = 'trigger';"
    "CREATE VIEW totals AS SELECT a.id, sum(b.qty) AS qty FROM a JOIN b ON b.a_id = a.id "
    "GROUP BY a.id;"
)


@pytest.fixture(scope="module")
def kill_src(mariadb: MyServer, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_mykill"
    mariadb.drop(name)
    mariadb.execute(f"CREATE DATABASE `{name}`")
    mariadb.execute(SOURCE, name)
    yield name
    mariadb.drop(name)


@pytest.fixture(scope="module")
def target(mariadb: MyServer, kill_src: str, run_id: str) -> Iterator[str]:
    """A target the module's tests share: each finds it serving the copy the
    last one's final refresh made (the first one here), and leaves another."""
    name = f"dct_{run_id}_myk{uuid.uuid4().hex[:4]}"
    yield name
    mariadb.drop(*(name + s for s in ("", "__dc_new", "__dc_prev", "__dc_old", "__dc_tmp")))


def _refreshed(folder: Path, server: MyServer, src: str, target: str) -> Path:
    """The config of a refresh with a secret of its own, after making sure
    the target serves a copy: the next refresh is always a change."""
    if not server.exists(target):
        first = _config(folder, server.url(src), server.url(target), "first-secret-0123456789")
        runtime.refresh(load_config(first), "dev", QuietProgress(), confirm=lambda t: None)
    secret = f"{uuid.uuid4().hex}-secret"
    return _config(folder, server.url(src), server.url(target), secret)


def _config(folder: Path, source: str, target: str, secret: str) -> Path:
    (folder / "rules.yml").write_text(
        "tables:\n  a:\n    mask: {email: email}\n    keep: [id, note]\n"
        "  b:\n    keep: [id, a_id, qty]\n"
    )
    (folder / "hook.sql").write_text(f"DO GET_LOCK('{HOOK_LOCK}', 60);\n")
    config = write_config(folder, source, "rules.yml", {"dev": target}, secret=secret)
    config.write_text(config.read_text() + "    on_busy: wait\n    after: [hook.sql]\n")
    return config


def _state(server: MyServer, schema: str) -> tuple[object, ...]:
    """What a user of the target sees: rows, a masked value, the view, the trigger."""
    return (
        server.query("SELECT count(*) FROM a", schema),
        server.query("SELECT count(*) FROM b", schema),
        server.query("SELECT email FROM a WHERE id = 1", schema),
        server.query("SELECT count(*), sum(qty) FROM totals", schema),
        server.query(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            f"WHERE TRIGGER_SCHEMA = '{schema}'"
        ),
    )


def _waiting(server: MyServer, naming: str, *starts: str) -> bool:
    """A statement starting with one of ``starts``, naming ``naming`` or run in
    that schema, waits for a metadata lock or a user lock (GET_LOCK)."""
    return any(
        server.query(
            "SELECT 1 FROM information_schema.PROCESSLIST WHERE (STATE LIKE '%metadata lock%' "
            f"OR STATE LIKE '%user lock%') AND INFO LIKE '{start}%' "
            f"AND (INFO LIKE '%{naming}%' OR DB = '{naming}')"
        )
        for start in starts
    )


def _gone(server: MyServer, target: str, within: float = 20) -> None:
    """Until the server has ended the killed run's sessions: its run lock is
    free and no statement of it is left."""
    deadline = time.monotonic() + within
    while server.query(f"SELECT IS_USED_LOCK('datacloner:{target}')")[0][0] is not None or (
        server.query(
            "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
            f"AND (INFO LIKE '%{target}%' OR DB LIKE '{target}%')"
        )
    ):
        assert time.monotonic() < deadline, "the killed run's sessions never ended"
        time.sleep(0.05)


def _kill_at(server: MyServer, moment: str, config: Path, src: str, target: str) -> None:
    """kill -9 the refresh while it is in ``moment``. The test's source
    session holds table b (read second) with LOCK TABLES WRITE from the start,
    so the run cannot get past its first table until the test lets it."""
    new = target + "__dc_new"
    source = server.connect(src)
    holders: list[pymysql.connections.Connection] = [source]
    try:
        with source.cursor() as cur:
            cur.execute("LOCK TABLES b WRITE")
        run = Run(config, "dev")
        try:
            if moment == "pre-data":
                run.wait_stage("pre-data")
            else:
                run.wait_stage("data")
                run.wait_for("the read of b waiting", lambda: _waiting(server, src, "SELECT"))
                assert server.query("SELECT count(*) FROM a", new) == [(str(ROWS),)]  # a is loaded
            if moment in ("post-data", "hooks", "swap"):
                hold = server.connect(target if moment == "swap" else new)
                holders.append(hold)
                with hold.cursor() as cur:
                    # hooks: the hook waits for the test's user lock; post-data:
                    # CREATE TRIGGER on a waits for this transaction's metadata
                    # lock; swap: LOCK TABLES (then RENAME TABLE) waits for it
                    if moment != "swap":
                        cur.execute(f"DO GET_LOCK('{HOOK_LOCK}', 0)")
                    if moment != "hooks":
                        cur.execute("START TRANSACTION")
                        cur.execute("SELECT count(*) FROM a")
                with source.cursor() as cur:
                    cur.execute("UNLOCK TABLES")  # the rows of b go in, then `moment`
                naming, starts = {
                    "post-data": (new, ("CREATE",)),
                    "hooks": (HOOK_LOCK, ("DO GET_LOCK",)),
                    "swap": (target, ("LOCK TABLES",)),
                }[moment]
                run.wait_stage(moment)
                run.wait_for(f"the run held in {moment}", lambda: _waiting(server, naming, *starts))
            run.kill()
        finally:
            run.kill()
        assert moment in run.stages and ("swap" not in run.stages) == (moment != "swap")
    finally:
        for conn in holders:
            conn.close()  # the dead run's waiting statement, if any, goes on; its session ends
    _gone(server, target)


@pytest.mark.parametrize("moment", ["pre-data", "data", "post-data", "hooks", "swap"])
def test_kill_9_at_any_stage_leaves_the_previous_copy_serving(
    mariadb: MyServer, kill_src: str, target: str, tmp_path: Path, moment: str
) -> None:
    second = _refreshed(tmp_path, mariadb, kill_src, target)
    before = _state(mariadb, target)
    assert before[0] == [(str(ROWS),)] and before[4] == [("stamp",)]
    _kill_at(mariadb, moment, second, kill_src, target)
    after = _state(mariadb, target)
    # the previous copy, whole and serving; killed in the swap while it waited
    # for the reader's lock, before its triggers were dropped
    assert after == before
    assert mariadb.exists(target + "__dc_new")  # killed before any cleanup

    report = runtime.refresh(load_config(second), "dev", QuietProgress(), confirm=lambda t: None)
    assert report.rows == 2 * ROWS
    again = _state(mariadb, target)
    assert again[2] != before[2] and again[:2] == before[:2] and again[3:] == before[3:]
    mariadb.execute("INSERT INTO a (id, email) VALUES (999, 'x@example.com')", target)
    assert mariadb.query("SELECT note FROM a WHERE id = 999", target) == [("trigger",)]
    mariadb.execute("DELETE FROM a WHERE id = 999", target)  # the next test's copy as made
    assert not mariadb.exists(target + "__dc_new")


def test_rows_changed_after_the_load_fail_the_run_with_the_target_untouched(
    mariadb: MyServer, kill_src: str, target: str, tmp_path: Path
) -> None:
    """Another session deletes a loaded row of the new copy while the run is
    still loading (held on the source's table b): the health check's row
    count no longer matches what was loaded, and the run fails before the swap."""
    second = _refreshed(tmp_path, mariadb, kill_src, target)
    before = _state(mariadb, target)
    source = mariadb.connect(kill_src)
    try:
        with source.cursor() as cur:
            cur.execute("LOCK TABLES b WRITE")
        run = Run(second, "dev")
        run.wait_stage("data")
        run.wait_for("the read of b waiting", lambda: _waiting(mariadb, kill_src, "SELECT"))
        mariadb.execute("DELETE FROM a WHERE id = 7", target + "__dc_new")  # a is loaded
        with source.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        assert run.wait() == 1
    finally:
        source.close()
    told = "".join(run.lines)
    assert "health check: a has 29 rows in the new copy, 30 were loaded" in told, told
    assert "swap" not in run.stages
    assert _state(mariadb, target) == before
    assert not mariadb.exists(target + "__dc_new")


def test_a_target_user_without_lock_tables_still_swaps_a_copy_with_triggers(
    mariadb: MyServer, kill_src: str, target: str, run_id: str, tmp_path: Path
) -> None:
    """The privileges docs/mysql.md lists for the target, LOCK TABLES not
    among them: the swap drops the triggers without the lock first."""
    user = f"dc_tg_{run_id}"
    like = target + "%"  # the target and its __dc_* schemas ("_" matches itself too)
    mariadb.execute(
        f"DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%'; "
        f"GRANT CREATE, DROP, ALTER, INDEX, INSERT, SELECT, DELETE, CREATE VIEW, SHOW VIEW, "
        f"TRIGGER, CREATE ROUTINE, ALTER ROUTINE, EVENT, REFERENCES ON `{like}`.* TO '{user}'@'%';"
        f"GRANT SELECT, SHOW VIEW, TRIGGER ON `{kill_src}`.* TO '{user}'@'%';"
    )
    try:
        _refreshed(tmp_path, mariadb, kill_src, target)
        before = _state(mariadb, target)
        at = f"{user}@{mariadb.host}:{mariadb.port}"
        config = _config(
            tmp_path, f"mysql://{at}/{kill_src}", f"mysql://{at}/{target}", "lt-secret-0123456789"
        )
        runtime.refresh(load_config(config), "dev", QuietProgress(), confirm=lambda t: None)
        after = _state(mariadb, target)
        assert after[2] != before[2] and after[3:] == before[3:]  # new rows, view, trigger
    finally:
        mariadb.execute(f"DROP USER IF EXISTS '{user}'@'%'")
