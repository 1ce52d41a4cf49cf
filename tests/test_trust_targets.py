"""Which databases datacloner may create, drop or rename: never a system
database, never a name it derives from a target unless it made that database
(its marker), and never a previous copy before the new one is in place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_in_process
from killing import (
    Run,
    gone,
    hold_rename_of,
    killed_before_sqlite_swap,
    renamed_in_open_transaction,
    renaming_blocked,
)
from pgcompare import columns_digest

ROWS = 500
WORKING = ("__dc_new", "__dc_prev", "__dc_prev2", "__dc_prev3", "__dc_tmp", "__dc_old")


@pytest.fixture(scope="module")
def small_src(pg, run_id):
    name = f"dct_{run_id}_trust"
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute(
            "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, city text);"
            "INSERT INTO people SELECT g, 'user' || g || '@corp.example', 'Paris' "
            f"FROM generate_series(1, {ROWS}) g"
        )
    yield pg.url(name)
    pg.drop(name)


@pytest.fixture
def target(pg, target_name):
    """A target name whose every working copy is dropped afterwards."""
    yield target_name
    pg.drop(*(target_name + suffix for suffix in WORKING))


def _config(folder: Path, source: str, envs: dict[str, str], secret: str = "one") -> Path:
    """``envs``: name -> the environment's YAML body after ``url:``."""
    (folder / "rules.yml").write_text(
        "tables:\n  public.people:\n    mask:\n      email: {faker: email, unique: true}\n"
        "    keep: [id, city]\n"
    )
    path = folder / "datacloner.yml"
    body = "".join(f"  {name}:\n    url: {rest}\n" for name, rest in envs.items())
    secret += "-a-long-enough-secret"  # masking refuses a short key
    path.write_text(f"source: {source}\nsecret: {secret}\nrules: rules.yml\nenvironments:\n{body}")
    return path


def _refresh(cfg: Path, env: str = "staging", *extra: str):
    # in this process (no second of imports per run): every test here checks a
    # verb's answer and the databases; the kills run a real process (Run)
    return run_in_process("refresh", env, "-c", str(cfg), "--yes", *extra)


def _digest(pg, name: str) -> str:
    with pg.connect(name) as conn:
        return columns_digest(conn, "public", "people", ["id", "email", "city"])


def _hand_made(pg, name: str) -> None:
    """A database someone made by hand, with a table of their own."""
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE mine (note text); INSERT INTO mine VALUES ('keep me')")


def _still_hand_made(pg, name: str) -> bool:
    if not pg.exists(name):
        return False
    with pg.connect(name) as conn:
        return conn.execute("SELECT note FROM mine").fetchall() == [("keep me",)]


def _comment(pg, name: str) -> str | None:
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return row[0] if row else None


# --- system databases ------------------------------------------------------------


def _system_state(pg) -> list[tuple]:
    """The system databases and anything named after them (other runs' test
    databases come and go meanwhile, so only these are compared)."""
    with pg.connect() as conn:
        return conn.execute(
            "SELECT datname, oid, datistemplate, datallowconn FROM pg_database "
            "WHERE lower(datname) ~ '(template|postgres)' ORDER BY datname"
        ).fetchall()


SYSTEM_SPELLINGS = [
    "template1",
    "TEMPLATE1",
    '"template1"',
    "template0",
    "postgres",
    "Postgres",
    "{target}?dbname=template1",
    "{target}?dbname=%22TEMPLATE1%22",
]


@pytest.mark.parametrize("spelling", SYSTEM_SPELLINGS)
def test_a_system_database_is_never_a_target(pg, small_src, target, tmp_path, spelling):
    url = f"'postgresql://{pg.user}@{pg.host}:{pg.port}/{spelling.format(target=target)}'"
    cfg = _config(tmp_path, small_src, {"staging": url})
    before = _system_state(pg)
    for args in (("refresh", "staging", "--yes"), ("rollback", "staging", "--yes")):
        done = run_in_process(*args, "-c", str(cfg))
        assert done.returncode == 2, (args, done.stderr)
        assert "is a PostgreSQL system database" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert _system_state(pg) == before
    assert not any(pg.exists(target + suffix) for suffix in ("", *WORKING))


def test_restore_onto_a_system_database_is_refused(pg, small_src, target, tmp_path):
    cfg = _config(tmp_path, small_src, {"staging": pg.url(target)})
    archive = tmp_path / "snap.dcz"
    done = run_in_process("dump", str(archive), "--unsigned", "-c", str(cfg))
    assert done.returncode == 0, done.stderr
    url = f"'postgresql://{pg.user}@{pg.host}:{pg.port}/{target}?dbname=template1'"
    cfg = _config(tmp_path, small_src, {"staging": url})
    before = _system_state(pg)
    done = run_in_process(
        "restore", str(archive), "--to", "staging", "--allow-unsigned", "--yes", "-c", str(cfg)
    )
    assert done.returncode == 2, done.stderr
    assert "is a PostgreSQL system database" in done.stderr
    assert _system_state(pg) == before
    assert not pg.exists("template1__dc_new")


# --- names a refresh derives from its target ----------------------------------------


def test_a_source_named_like_a_working_copy_is_refused_at_load(pg, target, tmp_path):
    source = target + "__dc_new"
    _hand_made(pg, source)
    cfg = _config(tmp_path, pg.url(source), {"staging": pg.url(target)})
    done = _refresh(cfg)
    assert done.returncode == 2, done.stderr
    assert f"datacloner.yml:1: source: the database {source} is a working copy" in done.stderr
    assert "environments.staging.url (" in done.stderr and "datacloner.yml:6" in done.stderr
    assert _still_hand_made(pg, source)
    assert not pg.exists(target)


def test_another_environment_named_like_a_previous_copy_is_refused_at_load(pg, target, tmp_path):
    other = target + "__dc_prev2"
    _hand_made(pg, other)
    cfg = _config(
        tmp_path,
        pg.url(target + "_src"),
        {"staging": f"{pg.url(target)}\n    keep: 2", "demo": pg.url(other)},
    )
    for verb in (("refresh", "staging", "--yes"), ("rollback", "demo", "--yes")):
        done = run_in_process(*verb, "-c", str(cfg))
        assert done.returncode == 2, done.stderr
        assert "environments.demo.url: the database " + other in done.stderr
        assert "is a working copy of environments.staging.url (" in done.stderr
        assert "datacloner.yml:9" in done.stderr and "datacloner.yml:6" in done.stderr
    assert _still_hand_made(pg, other)


def test_a_sqlite_file_named_like_a_working_copy_is_refused_at_load(tmp_path):
    cfg = tmp_path / "datacloner.yml"
    cfg.write_text(
        "source: sqlite:///app.db.prev2\nrules: rules.yml\n"
        "environments:\n  dev: {url: 'sqlite:///app.db'}\n"
    )
    done = run_in_process("status", "dev", "-c", str(cfg))
    assert done.returncode == 2, done.stderr
    assert "app.db.prev2 is a working copy of environments.dev.url" in done.stderr


# --- the marker: only what datacloner made is dropped or renamed --------------------


@pytest.mark.parametrize("suffix", ["__dc_new", "__dc_old", "__dc_prev"])
def test_an_unmarked_working_name_is_never_dropped_by_a_refresh(
    pg, small_src, target, tmp_path, suffix
):
    cfg = _config(tmp_path, small_src, {"staging": pg.url(target)})
    assert _refresh(cfg).returncode == 0
    before = _digest(pg, target)
    _hand_made(pg, target + suffix)
    done = _refresh(_config(tmp_path, small_src, {"staging": pg.url(target)}, "two"))
    assert done.returncode == 1, done.stderr
    assert f"{target + suffix} exists but has no datacloner marker" in done.stderr
    assert f'DROP DATABASE "{target + suffix}"' in done.stderr  # how to remove it by hand
    assert "Traceback" not in done.stderr
    assert _still_hand_made(pg, target + suffix)
    assert _digest(pg, target) == before


@pytest.mark.parametrize("suffix", ["__dc_tmp", "__dc_prev"])
def test_an_unmarked_working_name_is_never_dropped_or_swapped_in_by_rollback(
    pg, small_src, target, tmp_path, suffix
):
    cfg = _config(tmp_path, small_src, {"staging": pg.url(target)})
    assert _refresh(cfg).returncode == 0
    if suffix == "__dc_tmp":
        again = _refresh(_config(tmp_path, small_src, {"staging": pg.url(target)}, "two"))
        assert again.returncode == 0, again.stderr
        previous = _digest(pg, target + "__dc_prev")
    before = _digest(pg, target)
    _hand_made(pg, target + suffix)
    done = run_in_process("rollback", "staging", "-c", str(cfg), "--yes")
    assert done.returncode == 1, done.stderr
    assert f"{target + suffix} exists but has no datacloner marker" in done.stderr
    assert _still_hand_made(pg, target + suffix)
    assert _digest(pg, target) == before
    if suffix == "__dc_tmp":
        assert _digest(pg, target + "__dc_prev") == previous


def test_a_hand_made_target_becomes_the_marked_previous_copy(pg, small_src, target, tmp_path):
    _hand_made(pg, target)
    with pg.connect() as conn:
        conn.execute(f"COMMENT ON DATABASE \"{target}\" IS 'the team''s sandbox'")
    cfg = _config(tmp_path, small_src, {"staging": pg.url(target)})
    done = _refresh(cfg)
    assert done.returncode == 0, done.stderr
    assert f"{target} was not made by datacloner: it is now {target}__dc_prev" in done.stderr
    prev = target + "__dc_prev"
    assert _still_hand_made(pg, prev)
    comment = _comment(pg, prev) or ""
    assert comment.startswith("datacloner:") and "the team's sandbox" in comment
    # rollback brings it back; a second rollback returns to the copy
    copy = _digest(pg, target)
    assert run_in_process("rollback", "staging", "-c", str(cfg), "--yes").returncode == 0
    assert _still_hand_made(pg, target)
    assert run_in_process("rollback", "staging", "-c", str(cfg), "--yes").returncode == 0
    assert _digest(pg, target) == copy
    # the next refresh rotates it out (keep: 1): it carries the marker now
    done = _refresh(_config(tmp_path, small_src, {"staging": pg.url(target)}, "two"))
    assert done.returncode == 0, done.stderr
    assert _digest(pg, prev) == copy


# --- the previous copies survive a refused or killed swap ---------------------------


def _generations(pg, target: str) -> dict[str, str]:
    names = [target] + [target + "__dc_prev" + (str(g) if g > 1 else "") for g in range(1, 4)]
    return {name: _digest(pg, name) for name in names if pg.exists(name)}


def _filled(pg, small_src, target, tmp_path, keep: int, extra: str = "") -> dict[str, str]:
    """Refreshed keep + 1 times: the target and ``keep`` previous copies."""
    for n in range(keep + 1):
        env = {"staging": f"{pg.url(target)}\n    keep: {keep}{extra}"}
        done = _refresh(_config(tmp_path, small_src, env, f"secret{n}"))
        assert done.returncode == 0, done.stderr
    found = _generations(pg, target)
    assert len(found) == keep + 1 and len(set(found.values())) == keep + 1
    return found


@pytest.mark.parametrize("keep", [1, 2])
def test_on_busy_fail_leaves_the_target_and_every_previous_copy(
    pg, small_src, target, tmp_path, keep
):
    before = _filled(pg, small_src, target, tmp_path, keep)
    env = {"staging": f"{pg.url(target)}\n    keep: {keep}\n    on_busy: fail"}
    cfg = _config(tmp_path, small_src, env, "later")
    with pg.connect(target) as busy:
        busy.execute("SELECT 1")
        done = _refresh(cfg, "staging", "--drain-timeout", "0.5")
        assert busy.execute("SELECT count(*) FROM people").fetchone()[0] == ROWS
    assert done.returncode == 1, done.stderr
    assert _generations(pg, target) == before
    assert "the swap was not done; the target and its previous copies are unchanged" in (
        done.stderr
    )
    assert not pg.exists(target + "__dc_new") and not pg.exists(target + "__dc_old")


def _kill_in_the_swap(pg, cfg: Path, target: str) -> None:
    """kill -9 inside the renames' transaction: the target and the previous
    copies already renamed in it, the new copy's rename waiting for a lock the
    test holds (seen in the server's views, not signalled by the run)."""
    new = target + "__dc_new"
    run = Run(cfg)
    try:
        run.wait_stage("pre-data")  # held from the start: the rename cannot slip past
        holder = hold_rename_of(pg, new)
        try:
            run.wait_for("the rename waiting", lambda: renaming_blocked(pg, new))
            assert renamed_in_open_transaction(pg, target)
            run.kill()
        finally:
            holder.rollback()
            holder.close()
    finally:
        run.kill()
    gone(pg, new)


@pytest.mark.parametrize("keep", [1, 2])
def test_a_kill_in_the_swap_leaves_every_previous_copy(pg, small_src, target, tmp_path, keep):
    before = _filled(pg, small_src, target, tmp_path, keep)
    cfg = _config(tmp_path, small_src, {"staging": f"{pg.url(target)}\n    keep: {keep}"}, "x")
    _kill_in_the_swap(pg, cfg, target)
    # the server rolled the renames back when the client died
    assert _generations(pg, target) == before
    again = _refresh(cfg)
    assert again.returncode == 0, again.stderr
    after = _generations(pg, target)
    assert after[target + "__dc_prev"] == before[target]
    assert not pg.exists(target + "__dc_old") and not pg.exists(target + "__dc_new")


@pytest.mark.parametrize("keep", [1, 2])
def test_sqlite_a_kill_in_the_swap_leaves_every_previous_copy(tmp_path, keep):
    demo = Path(__file__).resolve().parent.parent / "examples" / "demo"
    subprocess.run(
        [sys.executable, str(demo / "make_source.py"), str(tmp_path / "source.db")], check=True
    )
    (tmp_path / "rules.yml").write_text((demo / "rules.yml").read_text())
    cfg = tmp_path / "datacloner.yml"

    def write(secret: str) -> None:
        cfg.write_text(
            f"source: sqlite:///source.db\nsecret: {secret}-a-long-enough-secret\n"
            "rules: rules.yml\n"
            f"environments:\n  staging: {{url: 'sqlite:///dev.db', keep: {keep}}}\n"
        )

    names = ["dev.db", "dev.db.prev", "dev.db.prev2"][: keep + 1]
    for n in range(keep + 1):
        write(f"s{n}")
        assert _refresh(cfg).returncode == 0
    before = {name: (tmp_path / name).read_bytes() for name in names}
    assert len(set(before.values())) == keep + 1
    write("later")
    run = Run(cfg)
    run.wait_stage("swap")  # the new file complete, its manifest written
    run.kill()
    # nothing outside can pause SQLite's two renames: the kill lands just
    # before them or, on a stalled machine, just after; whole state either way
    if not killed_before_sqlite_swap(tmp_path, before):
        if keep == 2:
            assert (tmp_path / "dev.db.prev2").read_bytes() == before["dev.db.prev"]
        return
    # what a kill between the swap's two steps leaves: the target under a second
    # name (no copy replaced yet), the new file not in place; the next run finishes
    os.link(tmp_path / "dev.db", tmp_path / "dev.db.dc_hold")
    done = _refresh(cfg)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "dev.db.prev").read_bytes() == before["dev.db"]
    if keep == 2:
        assert (tmp_path / "dev.db.prev2").read_bytes() == before["dev.db.prev"]
    assert not (tmp_path / "dev.db.dc_hold").exists()


def test_keep_zero_drops_the_replaced_copies_only_after_the_swap(pg, small_src, target, tmp_path):
    before = _filled(pg, small_src, target, tmp_path, 1)
    env = {"staging": f"{pg.url(target)}\n    keep: 0"}
    done = _refresh(_config(tmp_path, small_src, env, "zero"))
    assert done.returncode == 0, done.stderr
    assert list(_generations(pg, target)) == [target]
    assert _digest(pg, target) not in before.values()
    assert not any(pg.exists(target + suffix) for suffix in WORKING)
