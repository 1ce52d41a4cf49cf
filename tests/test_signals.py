"""SIGTERM, SIGINT and SIGHUP stop a run cleanly: the new copy is removed, the
lock released, worker processes end, the exit code is 128 + the signal, within
10 s, and a signal during the swap leaves the old or the new state, never a
mix. Every run is a real `datacloner` process; what it is doing when the
signal arrives is observed from outside (the server's views, /proc, files)."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from killing import blocked, hold_rename_of, renaming_blocked

ROWS = 2_000
STOP_WITHIN = 10.0  # seconds, the promise in docs/lifecycle.md


@pytest.fixture(scope="module")
def slow_src(pg, run_id):
    """Two tables, and a function that makes reading them take seconds: the
    `unless` condition of the rules calls it once per row."""
    name = f"dct_{run_id}_sig"
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute(
            "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, city text);"
            "INSERT INTO people SELECT g, 'user' || g || '@corp.example', 'Paris' "
            f"FROM generate_series(1, {ROWS}) g;"
            "CREATE TABLE orders (id int PRIMARY KEY, note text);"
            f"INSERT INTO orders SELECT g, 'call me' FROM generate_series(1, {ROWS}) g;"
            "CREATE FUNCTION slow_false(int) RETURNS boolean LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.005); RETURN false; END $$;"
            "ANALYZE"
        )
    yield pg.url(name)
    pg.drop(name)


def _config(folder: Path, source: str, target: str, slow: bool, env_extra: str = "") -> Path:
    unless = '    unless: "slow_false(id)"\n' if slow else ""
    (folder / "rules.yml").write_text(
        "tables:\n"
        "  public.people:\n    mask:\n      email: {faker: email}\n    keep: [id, city]\n"
        + unless
        + "  public.orders:\n    mask:\n      note: {value: x}\n    keep: [id]\n"
        + unless
    )
    path = folder / "datacloner.yml"
    path.write_text(
        f"source: {source}\nsecret: signals-test-secret-0123456789\nrules: rules.yml\n"
        f"environments:\n  staging:\n    url: {target}\n{env_extra}"
    )
    return path


def _start(*args: str) -> subprocess.Popen[str]:
    """`datacloner ARGS` in its own process group, as a terminal runs a command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACLONER_")}
    if "DATACLONER_PG_BIN" in os.environ:
        env["DATACLONER_PG_BIN"] = os.environ["DATACLONER_PG_BIN"]
    return subprocess.Popen(
        [sys.executable, "-m", "datacloner.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_stop_signals,
    )


def _default_stop_signals() -> None:
    """In the child: the stop signals handled as a terminal's shell leaves them,
    whatever ran the suite (under ``nohup`` SIGHUP arrives ignored, and a run
    rightly keeps an ignored signal ignored)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _wait_for(what: str, ready: Callable[[], object], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()[1][-800:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never saw {what}")
        time.sleep(0.05)


def _stop(
    proc: subprocess.Popen[str], sig: signal.Signals, group: bool = False
) -> tuple[int, str, float]:
    """Send ``sig`` (to the process group, as a terminal's Ctrl-C does); the
    exit code, stderr and the seconds the run took to end."""
    sent = time.monotonic()
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"still running 30 s after {sig.name}")
    return proc.returncode, err, time.monotonic() - sent


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _all_gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 3  # a pool's helper notices its parent's exit
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


def _lock_free(pg, target: str, within: float = 1.0) -> bool:
    """What a second refresh tries first: the environment's advisory lock
    (``within``: the server may take a moment to notice a connection is gone)."""
    key = f"datacloner:{target}"
    deadline = time.monotonic() + within
    with pg.connect() as conn:
        while True:
            got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
            if got.fetchone()[0]:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _old_target(pg, name: str) -> None:
    """The environment's current copy, recognisable afterwards."""
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE era (v text); INSERT INTO era VALUES ('old')")


def _era(pg, name: str) -> list[tuple[str]]:
    with pg.connect(name) as conn:
        return conn.execute("SELECT v FROM era").fetchall()


def _copying(pg, database: str) -> int:
    """Loads (COPY FROM) running in ``database``: the run is in its data phase."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_progress_copy WHERE datname = %s "
            "AND command = 'COPY FROM'",
            (database,),
        ).fetchone()
    return int(row[0])


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGHUP, True)],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
@pytest.mark.parametrize("jobs", [1, 2], ids=["1job", "2jobs"])
def test_a_signal_in_the_data_phase_removes_the_new_copy_and_ends_the_workers(
    pg, slow_src, target_name, tmp_path, jobs, sig, group
):
    _old_target(pg, target_name)
    cfg = _config(tmp_path, slow_src, pg.url(target_name), slow=True)
    proc = _start("refresh", "staging", "-c", str(cfg), "--yes", "--jobs", str(jobs))
    new = target_name + "__dc_new"
    _wait_for("the data phase", lambda: _copying(pg, new) >= jobs, proc)
    children = _children(proc.pid)
    if jobs > 1:
        assert len(children) >= jobs  # the workers (and the pool's helper)

    code, err, took = _stop(proc, sig, group)

    assert code == 128 + sig, err
    assert took < STOP_WITHIN
    assert "Traceback" not in err
    assert f"stopped by {sig.name}: the new copy was removed, staging is unchanged" in err
    assert not pg.exists(new)
    assert _all_gone(children), [p for p in children if _alive(p)]
    assert _lock_free(pg, target_name)
    assert _era(pg, target_name) == [("old",)]
    assert not pg.exists(target_name + "__dc_prev")


def test_a_read_only_verb_stopped_while_it_waits_on_the_server_exits_quietly(
    pg, slow_src, target_name, tmp_path
):
    _old_target(pg, target_name)
    cfg = _config(tmp_path, slow_src, pg.url(target_name), slow=False)
    with pg.connect(target_name, autocommit=False) as holder:
        holder.execute(
            "CREATE SCHEMA datacloner; CREATE TABLE datacloner.refreshes (manifest jsonb)"
        )
        holder.commit()
        holder.execute("LOCK TABLE datacloner.refreshes IN ACCESS EXCLUSIVE MODE")
        proc = _start("status", "staging", "-c", str(cfg))
        _wait_for("status waiting", lambda: _waiting_in(pg, target_name), proc)

        code, err, took = _stop(proc, signal.SIGTERM)

        assert _waiting_in(pg, target_name) == 0  # its query was cancelled, not left behind
    assert code == 143, err
    assert took < STOP_WITHIN
    assert err.strip() == "stopped by SIGTERM: nothing was changed"


def _waiting_in(pg, database: str) -> int:
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND application_name = 'datacloner' AND wait_event_type = 'Lock'",
            (database,),
        ).fetchone()
    return int(row[0])


def _dropping(pg, new: str) -> bool:
    """The run's DROP of the new copy waits for a lock."""
    return blocked(pg, f'DROP DATABASE IF EXISTS "{new}"')


@pytest.mark.parametrize("released", [True, False], ids=["released", "never-released"])
def test_a_second_signal_never_cuts_the_cleanup_short_and_the_cleanup_is_bounded(
    pg, slow_src, target_name, tmp_path, released
):
    _old_target(pg, target_name)
    new = target_name + "__dc_new"
    cfg = _config(tmp_path, slow_src, pg.url(target_name), slow=True)
    proc = _start("refresh", "staging", "-c", str(cfg), "--yes")
    try:
        _wait_for("the data phase", lambda: _copying(pg, new) >= 1, proc)
        with pg.connect(autocommit=False) as holder:
            # another session's lock on the new copy: dropping it must wait
            holder.execute(f"COMMENT ON DATABASE \"{new}\" IS 'held'")
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _wait_for("the cleanup waiting", lambda: _dropping(pg, new), proc)
            proc.send_signal(signal.SIGINT)  # ignored: the cleanup goes on
            time.sleep(0.5)
            assert proc.poll() is None
            if released:
                holder.rollback()
                _, err = proc.communicate(timeout=30)
            else:  # the cleanup never ends: the run exits anyway
                _, err = proc.communicate(timeout=30)
                holder.rollback()
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 143, err  # the first signal's code
    assert took < STOP_WITHIN
    assert "Traceback" not in err
    if released:
        assert "stopped by SIGTERM: the new copy was removed, staging is unchanged" in err
        assert not pg.exists(new)
    else:
        assert "stopped by SIGTERM: the cleanup did not finish within 8s" in err
    # cut short, the server ends the run's session once its DROP stops waiting
    assert _lock_free(pg, target_name, within=1.0 if released else 10.0)
    assert _era(pg, target_name) == [("old",)]


def test_workers_die_with_a_leader_killed_by_sigkill(pg, slow_src, target_name, tmp_path):
    cfg = _config(tmp_path, slow_src, pg.url(target_name), slow=True)
    proc = _start("refresh", "staging", "-c", str(cfg), "--yes", "--jobs", "2")
    _wait_for("the data phase", lambda: _copying(pg, target_name + "__dc_new") >= 2, proc)
    workers = _children(proc.pid)

    proc.kill()  # nothing runs in the leader: no cleanup, no terminate()
    proc.wait()  # (its pipes stay open while a worker lives)
    gone = _all_gone(workers)
    for pipe in (proc.stdout, proc.stderr):
        pipe.close()
    for pid in workers:  # this test's orphans, if any, must not outlive it
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)

    assert gone


def _handlers_installed(pid: int) -> bool:
    """The process catches SIGTERM: datacloner's handlers are in place (Python
    alone catches only SIGINT)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(status.split("SigCgt:")[1].split()[0], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def test_ctrl_c_while_starting_exits_130_without_a_traceback(tmp_path):
    cfg = tmp_path / "datacloner.yml"
    cfg.write_text("source: sqlite:///nowhere.db\nenvironments: {}\n")
    proc = _start("status", "staging", "-c", str(cfg))
    started = time.monotonic()
    # the handlers come first, then about a second of imports: Ctrl-C then
    while not _handlers_installed(proc.pid) and time.monotonic() - started < 0.5:
        time.sleep(0.002)

    code, err, _ = _stop(proc, signal.SIGINT, group=True)

    assert code == 130, err
    assert err.strip() == "stopped by SIGINT: nothing was changed"


def test_sqlite_refresh_stopped_by_sigterm_removes_the_new_file_and_frees_the_lock(tmp_path):
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, city TEXT)")
        conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?)",
            ((i, f"user{i}@corp.example", "Paris") for i in range(400_000)),
        )
    target = tmp_path / "dev.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE era (v TEXT)")
        conn.execute("INSERT INTO era VALUES ('old')")
    (tmp_path / "rules.yml").write_text(
        "tables:\n  people:\n    mask:\n      email: {faker: email}\n    keep: [id, city]\n"
    )
    cfg = tmp_path / "datacloner.yml"
    cfg.write_text(
        f"source: sqlite:///{source}\nsecret: signals-test-secret-0123456789\nrules: rules.yml\n"
        f"environments:\n  dev:\n    url: sqlite:///{target}\n"
    )
    new = tmp_path / "dev.db.dc_new"
    proc = _start("refresh", "dev", "-c", str(cfg), "--yes")
    # the schema is in the new file: the rows are being loaded
    _wait_for("the data phase", lambda: new.exists() and new.stat().st_size > 0, proc)

    code, err, took = _stop(proc, signal.SIGTERM)

    assert code == 143, err
    assert took < STOP_WITHIN
    assert "Traceback" not in err
    assert "stopped by SIGTERM: the new copy was removed, dev is unchanged" in err
    assert not [p.name for p in tmp_path.iterdir() if ".dc_" in p.name]
    with open(tmp_path / "dev.db.lock", "a") as lock:  # a second run would get it at once
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT v FROM era").fetchall() == [("old",)]


def _queries_of(pg, pid: int) -> list[str]:
    """The last query of each of the process's own sessions: its sockets'
    local ports are the sessions' client ports."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    if not ports:
        return []
    with pg.connect() as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE client_port = ANY(%s)", (sorted(ports),)
        ).fetchall()
    return [r[0] for r in rows]


def _draining(pg, pid: int) -> bool:
    """The run counts the target's sessions: it is in the drain."""
    return any(
        q.startswith("SELECT count(*) FROM pg_stat_activity WHERE datname")
        for q in _queries_of(pg, pid)
    )


def test_a_signal_while_the_swap_waits_for_sessions_leaves_the_old_copy(
    pg, slow_src, target_name, tmp_path
):
    _old_target(pg, target_name)
    cfg = _config(
        tmp_path, slow_src, pg.url(target_name), slow=False, env_extra="    on_busy: wait\n"
    )
    with pg.connect(target_name) as busy:  # a client that never leaves
        busy.execute("SELECT 1")
        proc = _start("refresh", "staging", "-c", str(cfg), "--yes")
        _wait_for("the drain", lambda: _draining(pg, proc.pid), proc)

        code, err, took = _stop(proc, signal.SIGTERM)

        assert code == 143, err
        assert took < STOP_WITHIN
        assert "stopped by SIGTERM: the new copy was removed, staging is unchanged" in err
        assert busy.execute("SELECT v FROM era").fetchall() == [("old",)]  # never cut off
    assert _era(pg, target_name) == [("old",)]
    assert not pg.exists(target_name + "__dc_new")
    assert not pg.exists(target_name + "__dc_prev")
    assert _lock_free(pg, target_name)


def test_a_rollback_stopped_in_its_drain_changes_nothing(pg, slow_src, target_name, tmp_path):
    _old_target(pg, target_name)
    cfg = _config(
        tmp_path, slow_src, pg.url(target_name), slow=False, env_extra="    on_busy: wait\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "datacloner.cli", "refresh", "staging", "-c", str(cfg), "--yes"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr  # the old copy is now the previous one
    with pg.connect(target_name) as busy:  # a client that never leaves
        busy.execute("SELECT 1")
        proc = _start("rollback", "staging", "-c", str(cfg), "--yes")
        _wait_for("the drain", lambda: _draining(pg, proc.pid), proc)

        code, err, took = _stop(proc, signal.SIGTERM)

    assert code == 143, err
    assert took < STOP_WITHIN
    assert err.strip() == "stopped by SIGTERM: nothing was changed"
    with pg.connect(target_name) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == ROWS
    assert _era(pg, target_name + "__dc_prev") == [("old",)]
    assert _lock_free(pg, target_name)


def test_a_restore_stopped_in_its_drain_removes_the_new_copy(pg, slow_src, target_name, tmp_path):
    _old_target(pg, target_name)
    cfg = _config(
        tmp_path, slow_src, pg.url(target_name), slow=False, env_extra="    on_busy: wait\n"
    )
    archive = tmp_path / "snapshot.dcz"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "datacloner.cli",
            "dump",
            str(archive),
            "-c",
            str(cfg),
            "--unsigned",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with pg.connect(target_name) as busy:  # a client that never leaves
        busy.execute("SELECT 1")
        proc = _start(
            "restore", str(archive), "--to", "staging", "-c", str(cfg), "--yes", "--allow-unsigned"
        )
        _wait_for("the drain", lambda: _draining(pg, proc.pid), proc)

        code, err, took = _stop(proc, signal.SIGTERM)

    assert code == 143, err
    assert took < STOP_WITHIN
    assert "stopped by SIGTERM: the new copy was removed, staging is unchanged" in err
    assert _era(pg, target_name) == [("old",)]
    assert not pg.exists(target_name + "__dc_new")
    assert _lock_free(pg, target_name)


def test_a_signal_inside_the_rename_transaction_waits_for_its_end(
    pg, slow_src, target_name, tmp_path
):
    _old_target(pg, target_name)
    new = target_name + "__dc_new"
    cfg = _config(
        tmp_path, slow_src, pg.url(target_name), slow=False, env_extra="    on_busy: wait\n"
    )
    busy = pg.connect(target_name)
    proc = _start("refresh", "staging", "-c", str(cfg), "--yes")
    try:
        _wait_for("the drain", lambda: _draining(pg, proc.pid), proc)
        with hold_rename_of(pg, new) as holder:  # renaming the new copy must wait
            busy.close()  # the drain ends, the renames start
            _wait_for("the rename waiting", lambda: renaming_blocked(pg, new), proc)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(1)
            assert proc.poll() is None  # held until the transaction ends
            holder.rollback()  # the rename goes ahead and commits
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        busy.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 143, err
    assert took < STOP_WITHIN
    assert "stopped by SIGTERM: the swap had committed: staging serves the new copy" in err
    # the new state, whole: the new copy is live, the old one its previous copy
    with pg.connect(target_name) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == ROWS
    assert _era(pg, target_name + "__dc_prev") == [("old",)]
    assert not pg.exists(new)
    assert _lock_free(pg, target_name)
