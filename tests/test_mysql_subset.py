"""Subsets on MySQL/MariaDB (docs/subset.md): a share of a start table with
its children and the parents they need, no orphan, the same rows every
time; an engine without the `subset` capability refuses a `subset:` cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MyServer
from helpers import run_in_process

from datacloner.core.config import load_config
from datacloner.core.progress import QuietProgress
from datacloner.engines.mysql.engine import MysqlEngine
from datacloner.runtime import refresh as runtime

SECRET = "mysql-subset-secret-0123456789"
BIG = 2**53 + 10


@pytest.fixture
def target(mariadb: MyServer, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_msdst"
    yield name
    mariadb.drop(*(name + s for s in ("", "__dc_new", "__dc_prev", "__dc_prev2", "__dc_tmp")))


@pytest.fixture
def shop(mariadb: MyServer, run_id: str) -> Iterator[str]:
    """customers <- orders <- lines (composite key) <- returns (composite FK),
    notes -> customers.code (a unique non-primary key), employees -> employees
    (self-reference). Customer ids above 2**53: exact, never compared as doubles."""
    name = f"dct_{run_id}_msshop"
    mariadb.drop(name)
    mariadb.execute(f"CREATE DATABASE `{name}`")
    mariadb.execute(
        "CREATE TABLE customers (id BIGINT UNSIGNED PRIMARY KEY, code VARCHAR(10) NOT NULL"
        " UNIQUE, name VARCHAR(40));"
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id BIGINT UNSIGNED NOT NULL,"
        " FOREIGN KEY (customer_id) REFERENCES customers (id));"
        "CREATE TABLE lines_ (order_id INT NOT NULL, line INT NOT NULL,"
        " PRIMARY KEY (order_id, line), FOREIGN KEY (order_id) REFERENCES orders (id));"
        "CREATE TABLE returns_ (id INT PRIMARY KEY, order_id INT, line INT,"
        " FOREIGN KEY (order_id, line) REFERENCES lines_ (order_id, line));"
        "CREATE TABLE notes (id INT PRIMARY KEY, code VARCHAR(10) NULL,"
        " FOREIGN KEY (code) REFERENCES customers (code));"
        "CREATE TABLE employees (id INT PRIMARY KEY, boss_id INT NULL,"
        " FOREIGN KEY (boss_id) REFERENCES employees (id));"
        f"INSERT INTO customers SELECT {BIG} + seq, CONCAT('c%', seq), 'x' FROM seq_1_to_1000;"
        f"INSERT INTO orders SELECT seq, {BIG} + 1 + seq % 1000 FROM seq_1_to_3000;"
        "INSERT INTO lines_ SELECT 1 + seq DIV 2, seq % 2 FROM seq_0_to_5999;"
        "INSERT INTO returns_ SELECT seq, 1 + seq % 3000, seq % 2 FROM seq_1_to_600;"
        "INSERT INTO notes SELECT seq, CONCAT('c%', 1 + seq % 1000) FROM seq_1_to_500;"
        "INSERT INTO employees SELECT seq, IF(seq = 1, NULL, seq DIV 2) FROM seq_1_to_200;",
        name,
    )
    yield name
    mariadb.drop(name)


def _config(folder: Path, source: str, target_url: str, subset: str) -> Path:
    rules = folder / "rules.yml"
    rules.write_text(
        "tables:\n"
        "  {s}.customers:\n    keep: [id, code, name]\n"
        "  {s}.orders:\n    keep: [id, customer_id]\n"
        "  {s}.lines_:\n    keep: [order_id, line]\n"
        "  {s}.returns_:\n    keep: [id, order_id, line]\n"
        "  {s}.notes:\n    keep: [id, code]\n"
        "  {s}.employees:\n    keep: [id, boss_id]\n".format(s=source.rsplit("/", 1)[1])
    )
    path = folder / "datacloner.yml"
    path.write_text(
        f"source: {source}\nsecret: {SECRET}\nrules: {rules}\n"
        f"environments:\n  dev:\n    url: {target_url}\n    subset:\n{subset}"
    )
    return path


def test_subset_on_an_engine_without_the_capability_is_refused_at_check(
    mariadb: MyServer, shop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the runtime asks the capability flag: config cannot, while the URL is unset
    monkeypatch.setattr(MysqlEngine, "subset", False)
    _config(tmp_path, mariadb.url(shop), "${DC_MS_UNSET_TARGET}", f"      {shop}.customers: 10%\n")
    result = run_in_process("check", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "datacloner.yml:7: subset: not supported on this engine yet" in result.stderr
    assert "Traceback" not in result.stderr


def _ids(server: MyServer, schema: str, table: str) -> list[int]:
    return [int(r[0]) for r in server.query(f"SELECT id FROM `{table}` ORDER BY id", schema)]


def test_share_children_and_self_reference_without_orphans_twice_the_same(
    mariadb: MyServer, shop: str, target: str, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        mariadb.url(shop),
        mariadb.url(target),
        f"      {shop}.customers: 10%\n      {shop}.employees: 5%\n",
    )
    runtime.refresh(load_config(config), "dev", QuietProgress(), confirm=lambda t: None)
    customers = _ids(mariadb, target, "customers")
    assert 50 <= len(customers) <= 150  # 10% of 1000, by a hash of the key
    orders = _ids(mariadb, target, "orders")
    # every order of a chosen customer came down, and none other
    assert len(orders) == 3 * len(customers)
    assert mariadb.query(
        "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
        "WHERE c.id IS NULL",
        target,
    ) == [("0",)]
    # the self-reference: a chosen employee pulls its reports down and its bosses up
    assert mariadb.query(
        "SELECT count(*) FROM employees e LEFT JOIN employees b ON b.id = e.boss_id "
        "WHERE e.boss_id IS NOT NULL AND b.id IS NULL",
        target,
    ) == [("0",)]
    assert 1 in _ids(mariadb, target, "employees")  # the root boss of everyone
    # down through a composite key and a unique non-primary key, exactly
    counts = [
        int(str(v))
        for v in mariadb.query(
            "SELECT (SELECT count(*) FROM lines_), (SELECT count(*) FROM lines_ l JOIN orders o"
            " ON o.id = l.order_id), (SELECT count(*) FROM returns_), (SELECT count(*) FROM"
            " returns_ r JOIN lines_ l USING (order_id, line)), (SELECT count(*) FROM notes),"
            " (SELECT count(*) FROM notes n JOIN customers c USING (code))",
            target,
        )[0]
    ]
    assert counts[0] == counts[1] == 2 * len(orders)
    assert counts[2] == counts[3] > 0
    assert counts[4] == counts[5] == sum(1 for c in customers if 2 <= c - BIG <= 501)
    tables = {str(r[0]) for r in mariadb.query("SHOW TABLES", target)}
    assert not [t for t in tables if t.startswith("__dc_subset")]
    first = (customers, orders, _ids(mariadb, target, "employees"), _ids(mariadb, target, "notes"))
    runtime.refresh(load_config(config), "dev", QuietProgress(), confirm=lambda t: None)
    again = tuple(_ids(mariadb, target, t) for t in ("customers", "orders", "employees", "notes"))
    assert again == first
