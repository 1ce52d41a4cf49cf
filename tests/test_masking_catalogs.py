"""The bundled rules fit their databases' column types (check_spec with targets).

Runs against the real catalogs of Pagila, Northwind and the traps fixture
(PostgreSQL), and the demo (SQLite), so a plan-time type check never refuses a
rule that refreshes fine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from datacloner.core.catalog import Catalog
from datacloner.core.rules import load_rules
from datacloner.engines.postgres.engine import PostgresEngine
from datacloner.engines.sqlite.engine import SqliteEngine
from datacloner.masking import check_spec

REPO = Path(__file__).resolve().parents[1]


def check_all(catalog: Catalog, rules_path: Path) -> int:
    checked = 0
    for rules in load_rules(rules_path).tables:
        table = catalog.find(rules.table)
        assert table is not None, rules.table
        for name, spec in rules.mask.items():
            column = table.column(name)
            assert column is not None, (rules.table, name)
            check_spec(spec, column=f"{table.display}.{name}", target=column)
            checked += 1
    return checked


def postgres_catalog(url: str) -> Catalog:
    with PostgresEngine().open_source(url) as source:
        return source.read_catalog()


def test_pagila_rules_fit(pagila_src: str) -> None:
    assert check_all(postgres_catalog(pagila_src), REPO / "rules" / "pagila.yml") > 5


def test_northwind_rules_fit(northwind_src: str) -> None:
    assert check_all(postgres_catalog(northwind_src), REPO / "rules" / "northwind.yml") > 5


def test_traps_rules_fit(traps_src: str) -> None:
    assert check_all(postgres_catalog(traps_src), REPO / "tests" / "fixtures" / "traps.yml") > 0


def test_demo_rules_fit(tmp_path: Path) -> None:
    source_db = tmp_path / "source.db"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo" / "make_source.py"), str(source_db)],
        check=True,
        capture_output=True,
    )
    url = f"sqlite:///{source_db}"
    with SqliteEngine().open_source(url) as source:
        catalog = source.read_catalog()
    assert check_all(catalog, REPO / "examples" / "demo" / "rules.yml") > 5
