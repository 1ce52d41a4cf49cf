"""What the engine contract suite builds for each engine: one small source with
the same logical schema (two tables, integer keys, a foreign key, text, dates,
NULLs), the rules, and reads of a database as text. conftest.py turns these
into the ``engine_env`` fixture."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datacloner.core.config import Config, load_config
from datacloner.engines.base import Engine

# every engine of the registry (datacloner/engines/registry.py), each built below
ENGINES = ("postgresql", "sqlite", "mysql")
SECRET = "contract-secret-0123456789"
CUSTOMERS = 40
ORDERS = 90

# (id, email, name, phone, born, city): every third phone is NULL
CUSTOMER_ROWS = [
    (
        i,
        f"person{i}@corp.example",
        f"Person {i}",
        None if i % 3 == 0 else f"+33 6 12 34 {i:02d} 00",
        dt.date(1950, 1, 1) + dt.timedelta(days=397 * i),
        None if i % 5 == 0 else ("Paris", "Lyon", "Nantes")[i % 3],
    )
    for i in range(1, CUSTOMERS + 1)
]
# (id, customer_id, placed, note)
ORDER_ROWS = [
    (
        i,
        (i * 7) % CUSTOMERS + 1,
        dt.date(2024, 1, 1) + dt.timedelta(days=i),
        None if i % 4 == 0 else f"order note {i}",
    )
    for i in range(1, ORDERS + 1)
]

RULES = """\
tables:
  {p}customers:
    mask:
      email: {{faker: email, unique: true}}
      name: {{faker: name}}
      phone: phone_number
    keep: [id, born, city]
  {p}orders:
    keep: [id, customer_id, placed, note]
"""


@dataclass
class EngineEnv:
    """One engine's source, target and config; the same shape for every engine."""

    name: str  # the registry's engine name
    engine: Engine
    source_url: str
    target_url: str
    folder: Path
    prefix: str  # how rules name the tables: "public." or ""
    query: Callable[[str, str], list[tuple[Any, ...]]]  # (url, sql) -> rows, values as text
    exists: Callable[[str], bool]  # a database (file) exists
    target_of: Callable[[str], str]  # a target URL for a database name
    # names a run on the target may create or drop: the new copy first
    working_suffixes: tuple[str, ...]
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.folder / "datacloner.yml"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write_config(
        self,
        extra_env: str = "",
        environments: dict[str, str] | None = None,
        secret: str = SECRET,
    ) -> Path:
        """``dev`` at the target; ``extra_env``: more keys of ``dev``."""
        envs = environments or {"dev": self.target_url}
        lines = [f"source: {self.source_url}", f"secret: {secret}", "rules: rules.yml"]
        lines.append("environments:")
        for env, url in envs.items():
            lines.append(f"  {env}:\n    url: {url}")
            if env == "dev" and extra_env:
                lines.append(extra_env)
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def rows(self, url: str, table: str) -> list[tuple[Any, ...]]:
        """A table's rows by id, every value as the database spells it in text."""
        return self.query(url, f"SELECT * FROM {table} ORDER BY id")


# --- PostgreSQL ---------------------------------------------------------------------


def pg_source(pg: Any, name: str) -> None:
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL UNIQUE,"
            " name text NOT NULL, phone text, born date NOT NULL, city text);"
            "CREATE TABLE orders (id integer PRIMARY KEY,"
            " customer_id integer NOT NULL REFERENCES customers(id), placed date NOT NULL,"
            " note text)"
        )
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s)", CUSTOMER_ROWS)
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)", ORDER_ROWS)
        cur.execute("ANALYZE")


def pg_query(pg: Any) -> Callable[[str, str], list[tuple[Any, ...]]]:
    def query(url: str, statement: str) -> list[tuple[Any, ...]]:
        with pg.connect(url.rsplit("/", 1)[1]) as conn:
            cur = conn.execute(statement)
            # text as the server writes it: compared byte for byte
            return [tuple(None if v is None else str(v) for v in row) for row in cur.fetchall()]

    return query


# --- MySQL / MariaDB ------------------------------------------------------------------


def mysql_source(server: Any, name: str) -> None:
    server.drop(name)
    server.execute(f"CREATE DATABASE `{name}`")
    server.execute(
        "CREATE TABLE customers (id int PRIMARY KEY, email varchar(120) NOT NULL UNIQUE,"
        " name text NOT NULL, phone text, born date NOT NULL, city text) ENGINE=InnoDB;"
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL,"
        " placed date NOT NULL, note text,"
        " FOREIGN KEY (customer_id) REFERENCES customers(id)) ENGINE=InnoDB;",
        name,
    )
    conn = server.connect(name)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s)",
                [(*r[:4], r[4].isoformat(), r[5]) for r in CUSTOMER_ROWS],
            )
            cur.executemany(
                "INSERT INTO orders VALUES (%s, %s, %s, %s)",
                [(r[0], r[1], r[2].isoformat(), r[3]) for r in ORDER_ROWS],
            )
    finally:
        conn.close()


def mysql_schema(url: str) -> str:
    return url.rsplit("/", 1)[1]


def mysql_query(server: Any) -> Callable[[str, str], list[tuple[Any, ...]]]:
    def query(url: str, statement: str) -> list[tuple[Any, ...]]:
        # text as the server writes it (no conversion): compared byte for byte
        return server.query(statement, mysql_schema(url))

    return query


# --- SQLite -------------------------------------------------------------------------


def sqlite_source(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            "PRAGMA foreign_keys = ON;"
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,"
            " name TEXT NOT NULL, phone TEXT, born DATE NOT NULL, city TEXT);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY,"
            " customer_id INTEGER NOT NULL REFERENCES customers(id), placed DATE NOT NULL,"
            " note TEXT);"
        )
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
            [(*r[:4], r[4].isoformat(), r[5]) for r in CUSTOMER_ROWS],
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [(r[0], r[1], r[2].isoformat(), r[3]) for r in ORDER_ROWS],
        )
        conn.commit()
    finally:
        conn.close()


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def sqlite_query(url: str, statement: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
    try:
        return conn.execute(statement).fetchall()
    finally:
        conn.close()
