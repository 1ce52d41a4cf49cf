"""Subsetting on SQLite (docs/subset.md): every foreign key holds in the copy
(PRAGMA foreign_key_check), the start share, the same rows on every run, new
rows never displace chosen ones, and a row masks as in a full copy. The
runtime runs in-process (tests/test_subset_pg.py runs the CLI)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from datacloner.core.config import load_config
from datacloner.core.progress import QuietProgress
from datacloner.runtime import refresh as runtime
from datacloner.subset.select import subset_salt
from tests.helpers import write_config

SECRET = "test-secret-0123456789"
SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants,
    manager_id INTEGER REFERENCES users, email TEXT);
CREATE TABLE accounts (region TEXT, num INTEGER, owner_id INTEGER NOT NULL REFERENCES users,
    PRIMARY KEY (region, num));
CREATE TABLE coupons (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users,
    account_region TEXT, account_num INTEGER, coupon_code TEXT REFERENCES coupons (code),
    FOREIGN KEY (account_region, account_num) REFERENCES accounts);
CREATE TABLE departments (id INTEGER PRIMARY KEY, head_id INTEGER REFERENCES employees);
CREATE TABLE employees (id INTEGER PRIMARY KEY,
    dept_id INTEGER NOT NULL REFERENCES departments DEFERRABLE INITIALLY DEFERRED,
    user_id INTEGER REFERENCES users);
CREATE TABLE notes (user_id INTEGER NOT NULL REFERENCES users, body TEXT);
CREATE TABLE lonely (id INTEGER PRIMARY KEY);
"""


def _make(path: Path, users: int = 4000, first: int = 1) -> None:
    conn = sqlite3.connect(path)
    if first == 1:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO tenants VALUES (?, ?)", [(i, f"t{i}") for i in range(1, 21)])
        conn.executemany("INSERT INTO coupons VALUES (?, ?)", [(i, f"C{i}") for i in range(1, 51)])
        conn.executemany("INSERT INTO lonely VALUES (?)", [(i,) for i in range(1, 6)])
    ids = range(first, first + users)
    conn.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?)",
        [(i, 1 + i % 20, i // 2 if i > 1 else None, f"u{i}@example.com") for i in ids],
    )
    conn.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?)", [("eu" if i % 2 else "us", i, i) for i in ids]
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        [(i, i, "eu" if i % 2 else "us", i, f"C{1 + i % 50}" if i % 3 == 0 else None) for i in ids],
    )
    if first == 1:
        conn.executemany("INSERT INTO departments VALUES (?, NULL)", [(i,) for i in range(1, 11)])
        conn.executemany(
            "INSERT INTO employees VALUES (?, ?, ?)",
            [(i, 1 + i % 10, 1 + (i * 7) % users) for i in range(1, 201)],
        )
        conn.execute("UPDATE departments SET head_id = id * 3")
    conn.executemany("INSERT INTO notes VALUES (?, ?)", [(i, "n") for i in ids if i % 4 == 0])
    conn.commit()
    conn.close()


def _refresh(tmp_path: Path, source: Path, target: Path, subset: str) -> dict:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "strict: false\ntables:\n  main.users:\n    mask:\n      email: {faker: email}\n"
    )
    cfg = write_config(
        tmp_path, f"sqlite:///{source}", rules, {"dev": f"sqlite:///{target}"}, secret=SECRET
    )
    cfg.write_text(cfg.read_text() + "    subset:\n" + subset)
    report = runtime.refresh(load_config(cfg), "dev", QuietProgress(), lambda _: None)
    return json.loads(report.to_json())  # as --json prints it


def _start(source: Path, share: float) -> set[int]:
    salt = subset_salt(SECRET.encode())
    conn = sqlite3.connect(source)
    ids = [r[0] for r in conn.execute("SELECT id FROM users")]
    conn.close()
    limit = int(share / 100 * 2**60)
    return {
        i for i in ids if int(hashlib.md5((salt + repr(i)).encode()).hexdigest()[:15], 16) < limit
    }


def _ids(path: Path, query: str) -> set[int]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute(query)}
    finally:
        conn.close()


def test_sqlite_subset_keeps_every_key_and_the_same_rows(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "dev.db"
    _make(source)
    subset = "      main.users: 25%\n      children: {main.notes: 1}\n"
    report = _refresh(tmp_path, source, target, subset)
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert not [n for (n,) in conn.execute("SELECT name FROM sqlite_master") if "__dc_subset" in n]
    conn.close()
    start = _start(source, 25)
    assert abs(len(start) - 1000) <= 50  # 25% of 4000, within 5%
    users = _ids(target, "SELECT id FROM users")
    assert start <= users and len(users) < 4000 * 0.6
    # every order of a start user, and no order of a user kept only as a parent
    assert _ids(target, "SELECT user_id FROM orders") == start
    counts = {t["table"]: t["rows"] for t in report["tables"]}
    assert counts["main.lonely"] == 5 and counts["main.users"] == len(users)
    # the same rows again; then new users never push out the chosen ones
    _refresh(tmp_path, source, target, subset)
    assert _ids(target, "SELECT id FROM users") == users
    _make(source, users=4000, first=4001)
    _refresh(tmp_path, source, target, subset)
    assert start <= _ids(target, "SELECT id FROM users")


def test_sqlite_a_count_is_exact(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "dev.db"
    _make(source, users=600)
    report = _refresh(tmp_path, source, target, "      main.coupons: 7\n")
    counts = {t["table"]: t["rows"] for t in report["tables"]}
    assert counts["main.coupons"] == 7
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_sqlite_a_subset_row_masks_as_in_a_full_copy(tmp_path: Path) -> None:
    source, full, part = tmp_path / "source.db", tmp_path / "full.db", tmp_path / "part.db"
    _make(source, users=600)
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "strict: false\ntables:\n  main.users:\n    mask:\n      email: {faker: email}\n"
    )
    cfg = write_config(
        tmp_path,
        f"sqlite:///{source}",
        rules,
        {"full": f"sqlite:///{full}", "part": f"sqlite:///{part}"},
        secret=SECRET,
    )
    cfg.write_text(cfg.read_text() + "    subset: {main.users: 10%}\n")
    for env in ("full", "part"):
        runtime.refresh(load_config(cfg), env, QuietProgress(), lambda _: None)

    def emails(path: Path) -> dict[int, str]:
        conn = sqlite3.connect(path)
        try:
            return dict(conn.execute("SELECT id, email FROM users"))
        finally:
            conn.close()

    whole, subset = emails(full), emails(part)
    assert len(whole) == 600 and 0 < len(subset) < 600
    assert {i: whole[i] for i in subset} == subset
    assert not set(subset.values()) & set(emails(source).values())
