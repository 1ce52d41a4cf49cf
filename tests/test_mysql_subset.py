"""Subsets on MySQL/MariaDB (docs/subset.md): an engine without the `subset`
capability refuses a `subset:` cleanly at check time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MyServer
from helpers import run_in_process

from datacloner.engines.mysql.engine import MysqlEngine

SECRET = "mysql-subset-secret-0123456789"


@pytest.fixture
def shop(mariadb: MyServer, run_id: str) -> Iterator[str]:
    """customers <- orders (FK), employees -> employees (self-reference)."""
    name = f"dct_{run_id}_msshop"
    mariadb.drop(name)
    mariadb.execute(f"CREATE DATABASE `{name}`")
    mariadb.execute(
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40));"
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL,"
        " FOREIGN KEY (customer_id) REFERENCES customers (id));"
        "CREATE TABLE employees (id INT PRIMARY KEY, boss_id INT NULL,"
        " FOREIGN KEY (boss_id) REFERENCES employees (id));"
        "INSERT INTO customers SELECT seq, CONCAT('c', seq) FROM seq_1_to_1000;"
        "INSERT INTO orders SELECT seq, 1 + seq % 1000 FROM seq_1_to_3000;"
        "INSERT INTO employees SELECT seq, IF(seq = 1, NULL, seq DIV 2) FROM seq_1_to_200;",
        name,
    )
    yield name
    mariadb.drop(name)


def _config(folder: Path, source: str, target_url: str, subset: str) -> Path:
    rules = folder / "rules.yml"
    rules.write_text(
        "tables:\n"
        "  {s}.customers:\n    keep: [id, name]\n"
        "  {s}.orders:\n    keep: [id, customer_id]\n"
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
