"""SQLite engine, the embedded default: SQLAlchemy Core reflection and batched
reads and inserts; the new copy is written as a new file and moved into place.

Schema comes from ``sqlite_master`` verbatim (SQLite's equivalent of pg_dump's
sections): tables before the rows; indexes, triggers and views after them, so
triggers do not fire during the load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, create_engine, inspect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from datacloner.core import redaction, urls
from datacloner.core.catalog import Catalog, Column, QualifiedName, Table
from datacloner.core.errors import Refused, UsageError
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance, EngineBase, OneTableAtATime, Section, SwapPolicy
from datacloner.engines.sqlite.files import FileGenerations, working_name
from datacloner.masking.table_masker import TableMasker, encode_each

SCHEMA = "main"
# where a copy records its refreshes; never copied from a source
MANIFEST_TABLE = "_datacloner_refreshes"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(path: Path, read_only: bool) -> Connection:
    def creator() -> sqlite3.Connection:
        if read_only:
            # mode=ro: the source file can never be written through this connection
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        else:
            conn = sqlite3.connect(str(path))
        conn.isolation_level = None  # transactions are explicit below
        return conn

    engine = create_engine("sqlite://", creator=creator, poolclass=NullPool)
    return engine.connect()


class SqliteSource:
    def __init__(self, url: str) -> None:
        self.path = urls.sqlite_path(url)
        if not self.path.is_file():
            raise UsageError(
                f"the source SQLite file does not exist: {self.path}",
                hint="check `source:` in datacloner.yml (relative paths are relative to it)",
            )
        self.conn = _connect(self.path, read_only=True)
        try:
            # one read transaction: every table is read from the same snapshot
            self.conn.exec_driver_sql("BEGIN")
            self.conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
        except Exception as exc:
            raise UsageError(
                f"{self.path} is not a readable SQLite database: {redaction.database_error(exc)}"
            ) from None
        # a subset's selected rows (engines/sqlite/subset.py): a table's rowids
        # in batches, or None for every row
        self.selected: Callable[[QualifiedName], Iterator[list[int]] | None] | None = None

    def raw(self) -> sqlite3.Connection:
        driver = self.conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        return driver

    def foreign_keys(self, catalog: Catalog) -> list[Any]:
        """Every foreign key between the catalog's tables, for subsetting."""
        from datacloner.engines.sqlite.subset import foreign_keys

        return foreign_keys(self.raw(), catalog)

    def subset_where_problem(self, table: Table, where: str) -> str | None:
        from datacloner.engines.sqlite.subset import check_where

        return check_where(self.raw(), table, where)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.exec_driver_sql("ROLLBACK")
        self.conn.close()

    def identity(self) -> dict[str, str]:
        return {"engine": "sqlite", "database": str(self.path.resolve()), "cluster": "local"}

    def read_catalog(self) -> Catalog:
        insp = inspect(self.conn)
        # keys and references of every table in one query each: the inspector's
        # get_pk_constraint and get_foreign_keys scan sqlite_master once per
        # table, which grew with tables squared (10 s at 2,000 tables)
        keys: dict[str, list[tuple[int, str]]] = {}
        for table, column, position in self.conn.exec_driver_sql(
            "SELECT m.name, p.name, p.pk FROM sqlite_master m, pragma_table_info(m.name) p "
            "WHERE m.type = 'table' AND p.pk > 0"
        ):
            keys.setdefault(table, []).append((position, column))
        refs: dict[str, set[tuple[str, str]]] = {}
        for table, referred in self.conn.exec_driver_sql(
            'SELECT m.name, f."table" FROM sqlite_master m, pragma_foreign_key_list(m.name) f '
            "WHERE m.type = 'table'"
        ):
            refs.setdefault(table, set()).add((SCHEMA, referred))
        tables: dict[tuple[str, str], Table] = {}
        for name in insp.get_table_names():
            if name == MANIFEST_TABLE:
                continue
            columns = []
            for col in insp.get_columns(name):
                try:
                    type_name = str(col["type"])
                except Exception:  # NullType and friends have no spelling
                    type_name = ""
                columns.append(
                    Column(
                        name=col["name"],
                        type=type_name,
                        nullable=bool(col.get("nullable", True)),
                        generated=bool(col.get("computed")),
                        max_length=getattr(col["type"], "length", None),
                    )
                )
            count = self.conn.exec_driver_sql(f"SELECT count(*) FROM {_quote(name)}").scalar()
            tables[(SCHEMA, name)] = Table(
                schema=SCHEMA,
                name=name,
                columns=columns,
                primary_key=[column for _, column in sorted(keys.get(name, []))],
                row_estimate=int(count or 0),
                references=refs.get(name, set()),
            )
        return Catalog(tables=tables, default_schema=SCHEMA)

    def schema_sql(self, section: Section) -> list[str]:
        kinds = "('table')" if section == "pre-data" else "('index', 'trigger', 'view')"
        rows = self.conn.exec_driver_sql(
            f"SELECT sql FROM sqlite_master WHERE type IN {kinds} AND sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name <> ? ORDER BY rowid",
            (MANIFEST_TABLE,),
        ).all()
        return [r[0] for r in rows]

    def rows(
        self, plan: TablePlan, batch_size: int, unless: str | None = None
    ) -> Iterator[list[list[Any]]]:
        cols = ", ".join(_quote(c.name) for c in plan.columns)
        if unless:  # `unless` rows pass unmasked: evaluated here, as a trailing flag
            cols += f", ({unless})"
        table = _quote(plan.table.name)
        selected = self.selected(plan.table.qualified) if self.selected else None
        if selected is not None:  # a subset: only the selected rowids, a batch at a time
            for rowids in selected:
                result = self.conn.exec_driver_sql(
                    f"SELECT {cols} FROM {table} WHERE rowid IN "
                    "(SELECT value FROM json_each(?)) ORDER BY rowid",
                    (json.dumps(rowids),),
                )
                while batch := result.fetchmany(batch_size):
                    yield [list(row) for row in batch]
            return
        result = self.conn.exec_driver_sql(f"SELECT {cols} FROM {table}")
        while batch := result.fetchmany(batch_size):
            yield [list(row) for row in batch]

    def check_condition(self, plan: TablePlan) -> None:
        if not plan.unless:
            return
        try:
            # SQLite has no boolean type: a condition is one whose every value is
            # 0, 1 or NULL (comparisons, LIKE, IN, AND...). Any other value, as
            # from `unless: id`, is refused rather than read as true.
            other = self.conn.exec_driver_sql(
                f"SELECT 1 FROM {_quote(plan.table.name)} WHERE ({plan.unless}) IS NOT NULL "
                f"AND ({plan.unless}) NOT IN (0, 1) LIMIT 1"
            ).first()
        except DBAPIError as exc:
            words = re.findall(r"[^\s'\"(),]+", plan.unless)
            raise UsageError(
                f"`unless` of {plan.name} is not a valid condition: "
                f"{redaction.database_error(exc, [c.name for c in plan.columns] + words)}",
                hint="write a SQL boolean expression over the table's columns",
            ) from None
        if other is not None:
            raise UsageError(
                f"`unless` of {plan.name} is not a condition: it gives values other than "
                "true, false or NULL",
                hint="write a comparison, e.g. \"email LIKE '%@ourcompany.com'\"",
            )

    def sample(self, table: Table, columns: list[Column], limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows of ``columns`` as Python values: the same rows
        every time for the same data (scan and check must agree), spread over
        the table by a multiplicative hash of the rowid (Knuth's), or in
        primary key order for a WITHOUT ROWID table."""
        cols = ", ".join(_quote(c.name) for c in columns)
        query = f"SELECT {cols} FROM {_quote(table.name)} ORDER BY {{}} LIMIT ?"
        try:
            rows = self.conn.exec_driver_sql(
                query.format("(_rowid_ * 2654435761) % 4294967296, _rowid_"), (limit,)
            ).all()
        except OperationalError:  # WITHOUT ROWID: it has a primary key
            order = ", ".join(_quote(c) for c in table.primary_key or [columns[0].name])
            rows = self.conn.exec_driver_sql(query.format(order), (limit,)).all()
        return [tuple(r) for r in rows]

    def foreign_key_problems(self) -> list[Any]:
        return list(self.conn.exec_driver_sql("PRAGMA foreign_key_check").all())

    def sequences(self) -> list[tuple[str, int]]:
        has = self.conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
        ).first()
        if not has:
            return []
        return [
            (r[0], r[1]) for r in self.conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence")
        ]


class SqliteTargetBuild(OneTableAtATime):  # one writer per file
    def __init__(self, url: str, source: SqliteSource, policy: SwapPolicy) -> None:
        self.source = source
        self.policy = policy
        self.path = urls.sqlite_path(url).resolve()
        if not self.path.parent.is_dir():
            raise UsageError(f"the target's folder does not exist: {self.path.parent}")
        self.files = FileGenerations(self.path)
        self.files.lock()
        self.files.recover(policy.keep)
        self.new = self.files.new
        self.name = str(self.new)
        self.conn: Connection | None = None

    def create(self) -> None:
        self.files.remove_new()  # leftovers of a killed run
        self.conn = _connect(self.new, read_only=False)
        # a crash discards the whole file, so the new copy needs no journal
        self.conn.exec_driver_sql("PRAGMA journal_mode = OFF")
        self.conn.exec_driver_sql("PRAGMA synchronous = OFF")
        self.conn.exec_driver_sql("PRAGMA foreign_keys = OFF")

    def discard(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
        self.files.remove_new()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.files.unlock()

    def load_schema(self, section: Section) -> None:
        assert self.conn is not None
        self.conn.exec_driver_sql("BEGIN")
        for statement in self.source.schema_sql(section):
            self.conn.exec_driver_sql(statement)
        self.conn.exec_driver_sql("COMMIT")

    def copy_table(
        self, plan: TablePlan, masker: TableMasker, batch_size: int, advance: Advance
    ) -> int:
        assert self.conn is not None
        cols = ", ".join(_quote(c.name) for c in plan.columns)
        marks = ", ".join("?" for _ in plan.columns)
        insert = f"INSERT INTO {_quote(plan.table.name)} ({cols}) VALUES ({marks})"
        rows = 0
        self.conn.exec_driver_sql("BEGIN")
        for batch in self.source.rows(plan, batch_size, masker.unless):
            if masker.active:
                masker.apply(batch, lambda _column: (None, _SQLITE_VALUES))
            try:
                self.conn.exec_driver_sql(insert, [tuple(r) for r in batch])
            except DBAPIError as exc:
                columns = [c.name for c in plan.columns]
                raise Refused(
                    f"loading {plan.name} into the new copy failed in the batch starting at "
                    f"row {rows + 1}: {redaction.database_error(exc, columns)}",
                    hint="the target was not changed; a masked value may not fit a "
                    "constraint: adjust that column's rule",
                ) from None
            rows += len(batch)
            advance(len(batch))
        self.conn.exec_driver_sql("COMMIT")
        return rows

    def finalize(self) -> None:
        assert self.conn is not None
        sequences = self.source.sequences()
        if sequences:
            self.conn.exec_driver_sql("BEGIN")
            self.conn.exec_driver_sql("DELETE FROM sqlite_sequence")
            self.conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", sequences
            )
            self.conn.exec_driver_sql("COMMIT")
        # no ANALYZE: it would add sqlite_stat1, which the source may not have

    def health_check(self, loaded: dict[QualifiedName, int]) -> None:
        assert self.conn is not None
        for (_schema, name), rows in loaded.items():
            count = self.conn.exec_driver_sql(f"SELECT count(*) FROM {_quote(name)}").scalar()
            if count != rows:
                raise Refused(
                    f"health check: {name} has {count} rows in the new copy, {rows} were "
                    "loaded; the target was not changed"
                )
        problems = self.conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if len(problems) > len(self.source.foreign_key_problems()):
            raise Refused("health check: foreign keys broken in the new copy")

    def run_hooks(self, scripts: tuple[Path, ...]) -> None:
        assert self.conn is not None
        for script in scripts:
            if not script.is_file():
                raise UsageError(f"the after: hook {script} does not exist")
            raw = self.conn.connection.driver_connection
            assert raw is not None
            try:
                raw.executescript("BEGIN;\n" + script.read_text() + "\nCOMMIT;")
            except sqlite3.Error as exc:
                raise Refused(
                    f"the after: hook {script} failed in the new copy: "
                    f"{redaction.database_error(exc)}",
                    hint="the target was not changed; fix the script and refresh again",
                ) from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        assert self.conn is not None
        self.conn.exec_driver_sql("BEGIN")
        self.conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {MANIFEST_TABLE} (id INTEGER PRIMARY KEY, "
            "finished_at TEXT, manifest TEXT NOT NULL)"
        )
        self.conn.exec_driver_sql(
            f"INSERT INTO {MANIFEST_TABLE} (finished_at, manifest) VALUES (?, ?)",
            (manifest.get("finished_at"), json.dumps(manifest)),
        )
        self.conn.exec_driver_sql("COMMIT")

    def swap(self) -> list[str]:
        """Keep the old file as ``<file>.prev`` (a hard link, so the target path
        never goes missing) and rename the new file over the target."""
        assert self.conn is not None
        self.conn.close()
        self.conn = None
        self.files.swap_in(self.policy.keep)
        return []


def _sqlite_value(value: Any) -> Any:
    """Faker returns dates, decimals...: store them as SQLite stores such values
    written by Python (ISO text, numbers)."""
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


_SQLITE_VALUES = encode_each(_sqlite_value)


class SqliteEngine(EngineBase):
    source_class = SqliteSource
    build_class = SqliteTargetBuild
    subset = True

    @contextlib.contextmanager
    def subset_store(
        self, target: SqliteTargetBuild, source: SqliteSource, catalog: Catalog, salt: str
    ) -> Iterator[Any]:
        """The selection of a subset (engines/sqlite/subset.py), kept in the new
        copy through the build's own connection; the copy then reads only it."""
        from datacloner.engines.sqlite.subset import SqliteSubsetStore

        assert target.conn is not None
        driver = target.conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        store = SqliteSubsetStore(source.raw(), catalog, driver, salt)
        source.selected = store.tids
        try:
            yield store
        finally:
            source.selected = None

    def database_of(self, url: str) -> str:
        # the file as an absolute path: two spellings of one file are one database
        return str(Path(urls.parse(url).database or "").expanduser().resolve())

    def working_name(self, target: str, name: str) -> bool:
        return working_name(target, name)

    def target_identity(self, url: str) -> dict[str, str]:
        path = urls.sqlite_path(url).resolve()
        return {"engine": "sqlite", "database": str(path), "cluster": "local", "host": ""}

    def rollback(self, url: str, policy: SwapPolicy) -> list[str]:
        files = FileGenerations(urls.sqlite_path(url).resolve())
        files.lock()
        try:
            files.rollback(policy.keep)
        finally:
            files.unlock()
        return []

    def generations(self, url: str) -> list[tuple[str, list[dict[str, Any]]]]:
        found = []
        for path in FileGenerations(urls.sqlite_path(url).resolve()).existing():
            conn = _connect(path, read_only=True)
            try:
                has = conn.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE name = ?", (MANIFEST_TABLE,)
                ).first()
                rows = (
                    conn.exec_driver_sql(
                        f"SELECT manifest FROM {MANIFEST_TABLE} ORDER BY id DESC"
                    ).all()
                    if has
                    else []
                )
            finally:
                conn.close()
            found.append((str(path), [json.loads(r[0]) for r in rows]))
        return found
