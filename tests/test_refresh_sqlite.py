"""The embedded default: SQLite to SQLite through the real command, no server.

The bundled demo end to end, values that break naive copiers, and the
atomic file swap under a failing constraint and under SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, run_cli, run_in_process

DEMO = ROOT / "examples" / "demo"
USERS_MASKED = ["email", "first_name", "last_name", "phone", "birth_date", "password_hash"]
USERS_KEPT = ["id", "plan", "created_at"]
DEMO_PASSWORD = "$2b$12$devdevdevdevdevdevdevuwn9hwdQN7qMfnlHEgarskP9L3iYkcsi"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(db: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # the manifest records times: everything else must be identical
        return [line for line in conn.iterdump() if "_datacloner_refreshes" not in line]
    finally:
        conn.close()


def _column(db: Path, table: str, column: str) -> dict[int, Any]:
    return dict(_rows(db, f'SELECT id, "{column}" FROM "{table}"'))


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def _make_demo(folder: Path) -> Path:
    """examples/demo as a user gets it: source built by make_source.py, the
    config and rules beside it. Returns the config."""
    subprocess.run(
        [sys.executable, str(DEMO / "make_source.py"), str(folder / "source.db")],
        check=True,
        capture_output=True,
    )
    for name in ("datacloner.yml", "rules.yml"):
        shutil.copy(DEMO / name, folder / name)
    return folder / "datacloner.yml"


def _refresh(cfg: Path, secret: str | None = None, *more: str, run=run_in_process):
    """In this process (no second of imports) unless ``run`` says otherwise."""
    env = {"DATACLONER_SECRET": secret} if secret else None
    return run("refresh", "dev", "-c", str(cfg), "--yes", *more, env=env)


# --- the demo ----------------------------------------------------------------------


@dataclass
class Demo:
    source: Path
    dev: Path
    source_sha_before: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    folder = tmp_path_factory.mktemp("demo")
    cfg = _make_demo(folder)
    before = _sha256(folder / "source.db")
    _ok(_refresh(cfg))
    return Demo(folder / "source.db", folder / "dev.db", before)


def test_demo_source_file_is_unchanged(demo: Demo) -> None:
    assert _sha256(demo.source) == demo.source_sha_before
    assert not demo.dev.with_name("dev.db.dc_new").exists()


def test_demo_schema_arrives_unchanged(demo: Demo) -> None:
    # the copy's own manifest table is the one addition
    query = (
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE tbl_name <> '_datacloner_refreshes' ORDER BY type, name"
    )
    schema = _rows(demo.source, query)
    assert _rows(demo.dev, query) == schema
    kinds = {row[0] for row in schema}
    assert {"table", "index", "view", "trigger"} <= kinds


def test_demo_row_counts(demo: Demo) -> None:
    tables = [r[0] for r in _rows(demo.source, "SELECT name FROM sqlite_master WHERE type='table'")]
    assert set(tables) == {"users", "orders", "audit_log", "sessions"}
    for table in tables:
        count = f'SELECT count(*) FROM "{table}"'
        expected = 0 if table == "sessions" else _rows(demo.source, count)[0][0]  # skip
        assert _rows(demo.dev, count)[0][0] == expected, table
    assert _rows(demo.source, "SELECT count(*) FROM sessions")[0][0] > 0
    # the view works on the copy
    view = "SELECT count(*), sum(orders) FROM user_order_totals"
    assert _rows(demo.dev, view) == _rows(demo.source, view)


def test_demo_kept_columns_are_identical(demo: Demo) -> None:
    for table, columns in {
        "users": USERS_KEPT,
        "orders": ["id", "user_id", "total", "status", "created_at"],
        "audit_log": ["id", "action", "at"],
    }.items():
        cols = ", ".join(f'"{c}", typeof("{c}")' for c in columns)
        query = f'SELECT {cols} FROM "{table}" ORDER BY id'
        assert _rows(demo.dev, query) == _rows(demo.source, query), table


def test_demo_masked_columns_differ_and_nulls_stay_null(demo: Demo) -> None:
    for column in USERS_MASKED:
        before = _column(demo.source, "users", column)
        after = _column(demo.dev, "users", column)
        assert before.keys() == after.keys()
        assert {k for k, v in before.items() if v is None} == {
            k for k, v in after.items() if v is None
        }, column
        same = [k for k, v in before.items() if v is not None and after[k] == v]
        assert len(same) <= len(before) // 50, column
    phones = _column(demo.source, "users", "phone")
    assert any(v is None for v in phones.values())  # the case is exercised
    assert set(_column(demo.dev, "users", "password_hash").values()) == {DEMO_PASSWORD}


def test_demo_no_real_email_survives(demo: Demo) -> None:
    real = {r[0] for r in _rows(demo.source, "SELECT email FROM users")}
    fakes = {r[0] for r in _rows(demo.dev, "SELECT email FROM users")}
    fakes |= {r[0] for r in _rows(demo.dev, "SELECT actor_email FROM audit_log")}
    assert not real & fakes


def test_demo_unique_email_and_join_by_value(demo: Demo) -> None:
    emails = [r[0] for r in _rows(demo.dev, "SELECT email FROM users")]
    assert len(set(emails)) == len(emails)
    assert len({e.lower() for e in emails}) == len(emails)
    join = (
        "SELECT a.id, u.id FROM audit_log a JOIN users u ON u.email = a.actor_email ORDER BY a.id"
    )
    joined = _rows(demo.source, join)
    assert len(joined) == _rows(demo.source, "SELECT count(*) FROM audit_log")[0][0]
    # every audit row still points at the same user, through the fake address
    assert _rows(demo.dev, join) == joined


def test_second_refresh_keeps_prev_and_secret_decides_the_fakes(tmp_path) -> None:
    cfg = _make_demo(tmp_path)
    dev, prev = tmp_path / "dev.db", tmp_path / "dev.db.prev"
    # the first as a process of its own: the same copy from another hash seed
    _ok(_refresh(cfg, "secret-one-0123456789", run=run_cli))
    first_sha, first_dump = _sha256(dev), _dump(dev)
    assert not prev.exists()

    _ok(_refresh(cfg, "secret-one-0123456789"))
    assert _sha256(prev) == first_sha
    assert _dump(dev) == first_dump  # same secret, same copy
    assert _dump(prev) == first_dump

    _ok(_refresh(cfg, "secret-two-0123456789"))
    assert _dump(prev) == first_dump
    for column in USERS_MASKED:
        one = _column(prev, "users", column)
        two = _column(dev, "users", column)
        if column == "password_hash":  # a constant: the same whatever the secret
            assert one == two
            continue
        present = [k for k, v in one.items() if v is not None]
        differ = [k for k in present if two[k] != one[k]]
        assert len(differ) >= len(present) * 0.9, column
    kept = "SELECT id, plan, created_at FROM users ORDER BY id"
    assert _rows(dev, kept) == _rows(prev, kept)
    assert not tmp_path.joinpath("dev.db.dc_new").exists()


# --- values that break naive copiers ---------------------------------------------------

TRICKY: list[Any] = [
    "tab\there",
    "new\nline",
    "cr\rreturn\r\n",
    "back\\slash\\",
    "it's",
    'say "hi"',
    "emoji 😀🎉 Zoë",
    "\\N",
    "",
    None,
    b"\x00\x01\x02\xff",
    b"",
    b"\x00" * 8,
    b"\\N\t\n",
    2**63 - 1,
    -(2**63),
    0,
    -1,
    0.1,
    -2.5,
    -0.0,
    1.7976931348623157e308,
    5e-324,
    1e16,
    "123",
    "1.0",
    " padded ",
]

TRICKY_SCHEMA = """
CREATE TABLE kept (
    id INTEGER PRIMARY KEY,
    t TEXT,
    b BLOB,
    i INTEGER,
    f REAL,
    n NUMERIC,
    anything
);
CREATE TABLE masked (
    id INTEGER PRIMARY KEY,
    t TEXT,
    b BLOB,
    anything,
    email TEXT,
    note TEXT,
    code TEXT
);
"""

TRICKY_RULES = """\
tables:
  kept:
    keep: [id, t, b, i, f, n, anything]
  masked:
    keep: [id, t, b, anything]
    mask:
      email: {faker: email}
      note: null
      code: {value: "X"}
"""


def _write_config(folder: Path, rules: str, name: str = "datacloner.yml") -> Path:
    (folder / f"rules_{name}").write_text(rules)
    cfg = folder / name
    cfg.write_text(
        "source: sqlite:///source.db\n"
        "secret: test-secret-0123456789\n"
        f"rules: rules_{name}\n"
        "environments:\n"
        "  dev: {url: sqlite:///dev.db}\n"
    )
    return cfg


def _typed(db: Path, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c}", typeof("{c}")' for c in columns)
    return _rows(db, f'SELECT {cols} FROM "{table}" ORDER BY id')


def test_tricky_values_round_trip(tmp_path) -> None:
    conn = sqlite3.connect(tmp_path / "source.db")
    conn.executescript(TRICKY_SCHEMA)
    text = [v for v in TRICKY if isinstance(v, str)]
    with conn:
        for i, value in enumerate(TRICKY, start=1):
            # every value in the typed columns, and in the untyped `anything`
            t = value if isinstance(value, str) or value is None else str(value)
            b = value if isinstance(value, bytes) or value is None else str(value).encode()
            conn.execute(
                "INSERT INTO kept VALUES (?, ?, ?, ?, ?, ?, ?)",
                (i, t, b, value, value, value, value),
            )
            masked_text = text[i % len(text)] if i % 4 else None
            conn.execute(
                "INSERT INTO masked VALUES (?, ?, ?, ?, ?, ?, ?)",
                (i, t, b, value, masked_text, masked_text, masked_text),
            )
    conn.close()
    source_sha = _sha256(tmp_path / "source.db")
    _ok(_refresh(_write_config(tmp_path, TRICKY_RULES)))
    src, dev = tmp_path / "source.db", tmp_path / "dev.db"
    assert _sha256(src) == source_sha

    for table, columns in {
        "kept": ["id", "t", "b", "i", "f", "n", "anything"],
        "masked": ["id", "t", "b", "anything"],
    }.items():
        before = _typed(src, table, columns)
        assert len(before) == len(TRICKY)
        assert _typed(dev, table, columns) == before, table
    # repr: == alone would not tell -0.0 from 0.0, nor 1 from 1.0 from True
    every = "SELECT * FROM kept ORDER BY id"
    assert repr(_rows(dev, every)) == repr(_rows(src, every))

    for column in ("email", "code"):  # NULL stays NULL, whatever the rule
        before = _column(src, "masked", column)
        after = _column(dev, "masked", column)
        assert {k for k, v in before.items() if v is None} == {
            k for k, v in after.items() if v is None
        }, column
        assert any(v is None for v in before.values())
    emails = _column(dev, "masked", "email")
    originals = _column(src, "masked", "email")
    assert all("@" in v for v in emails.values() if v is not None)
    assert not {v for v in emails.values() if v} & {v for v in originals.values() if v}
    assert {v for v in _column(dev, "masked", "note").values()} == {None}
    assert {v for v in _column(dev, "masked", "code").values()} == {"X", None}


# --- failures ----------------------------------------------------------------------

CHECK_SCHEMA = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, "
    "email TEXT CHECK (id < 5000 OR email LIKE '%@corp.example'))"
)
KEEP_RULES = "tables:\n  t:\n    keep: [id, email]\n"
MASK_RULES = "tables:\n  t:\n    keep: [id]\n    mask:\n      email: {faker: email}\n"


def _email_source(path: Path, rows: int, schema: str = CHECK_SCHEMA) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(schema)
        conn.execute(
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
            "INSERT INTO t SELECT x, 'user' || x || '@corp.example' FROM s",
            (rows,),
        )
    conn.close()


def test_failure_part_way_leaves_dev_db_unchanged(tmp_path) -> None:
    _email_source(tmp_path / "source.db", 6000)
    keep = _write_config(tmp_path, KEEP_RULES, "keep.yml")
    mask = _write_config(tmp_path, MASK_RULES, "mask.yml")
    dev = tmp_path / "dev.db"
    _ok(_refresh(keep))
    before = _sha256(dev)
    assert _rows(dev, "SELECT count(*) FROM t") == [(6000,)]

    done = _refresh(mask)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _sha256(dev) == before
    assert not dev.with_name("dev.db.dc_new").exists()
    assert not dev.with_name("dev.db.prev").exists()  # nothing was swapped


def test_failure_part_way_is_a_message_not_a_stack_trace(tmp_path) -> None:
    _email_source(tmp_path / "source.db", 6000)
    # a process of its own: all it writes, whatever writes it, is searched
    done = _refresh(_write_config(tmp_path, MASK_RULES), run=run_cli)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert not (tmp_path / "dev.db").exists()
    assert not (tmp_path / "dev.db.dc_new").exists()
    assert "Traceback" not in output
    text = " ".join(output.split())
    assert "error:" in text and "main.t" in text and "CHECK constraint failed" in text
    assert "not changed" in text
    assert "@example." not in output  # no row values (fakes or not) in the message


def test_sigkill_part_way_leaves_dev_db_unchanged(tmp_path) -> None:
    # no CHECK here: the masked refresh would run to the end if it were not killed
    _email_source(
        tmp_path / "source.db", 200_000, "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT)"
    )
    keep = _write_config(tmp_path, KEEP_RULES, "keep.yml")
    mask = _write_config(tmp_path, MASK_RULES, "mask.yml")
    dev, new = tmp_path / "dev.db", tmp_path / "dev.db.dc_new"
    _ok(_refresh(keep))
    before = _sha256(dev)

    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACLONER_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "datacloner.cli",
            "refresh",
            "dev",
            "-c",
            str(mask),
            "--yes",
            "--json",
            "--batch-size",
            "1000",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not new.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert new.exists(), "the refresh never started its new copy"
        time.sleep(0.5)  # rows are being written into the new copy
        assert proc.poll() is None, "the refresh ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _sha256(dev) == before
    assert _rows(dev, "SELECT count(*) FROM t") == [(200_000,)]

    _ok(_refresh(keep))
    assert not new.exists()
    assert not tmp_path.joinpath("dev.db.dc_new-journal").exists()
    assert _sha256(tmp_path / "dev.db.prev") == before
    assert _rows(dev, "SELECT count(*) FROM t") == [(200_000,)]
