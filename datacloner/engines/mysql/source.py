"""The MySQL/MariaDB source: one consistent, read-only snapshot.

``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` at REPEATABLE
READ: every InnoDB table is read as of one moment, and the server refuses
any write in it. Rows are read in keyset pages (``WHERE key > last ORDER BY
key LIMIT n``), never one long unbuffered stream that a slow consumer could
see cut at ``net_write_timeout``. Schema objects are read with ``SHOW
CREATE`` in the same session.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymysql

from datacloner.core.catalog import Catalog, Column, QualifiedName, Table
from datacloner.core.errors import Refused, UsageError
from datacloner.core.plan import TablePlan
from datacloner.engines.mysql.connection import (
    SYSTEM_SCHEMAS,
    Params,
    connect,
    error_text,
    params_of,
    q,
    rows,
    run,
    scalar,
    server_identity,
    text,
)

# tables datacloner writes into every copy: never read as data
OWN_PREFIX = "__datacloner_"
_GENERATED = re.compile(r"\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b", re.I)
_DEFINER = re.compile(r"DEFINER\s*=\s*(`(?:[^`]|``)*`@`(?:[^`]|``)*`|CURRENT_USER(?:\(\))?)", re.I)


@dataclass(frozen=True)
class SchemaObject:
    """A view, trigger, routine or event, as ``SHOW CREATE`` gives it."""

    kind: str  # view | trigger | procedure | function | event
    name: str
    sql_mode: str
    statement: str
    definer: str = ""  # user@host, '' for CURRENT_USER


def definer_of(statement: str) -> str:
    found = _DEFINER.search(statement)
    if not found or found.group(1).upper().startswith("CURRENT_USER"):
        return ""
    return found.group(1).replace("`", "")


def without_definer(statement: str) -> str:
    """The statement run as the current user: ``DEFINER=CURRENT_USER``."""
    return _DEFINER.sub("DEFINER=CURRENT_USER", statement, count=1)


class MySource:
    def __init__(self, url: str) -> None:
        self.params: Params = params_of(url)
        self.schema = self.params.database
        if not self.schema:
            raise UsageError(
                "the source MySQL URL names no schema (database)",
                hint="write it as mysql://user@host:3306/app",
            )
        self.warnings: list[str] = []
        probe = connect(self.params, "source")
        try:
            exists = scalar(
                probe,
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (self.schema,),
            )
        finally:
            probe.close()
        if not exists:
            raise UsageError(
                f"the source schema {self.schema!r} does not exist on the MySQL server",
                hint="check `source:` in datacloner.yml",
            )
        # the schema as the default: SHOW CREATE then names its objects unqualified
        self.conn = connect(self.params, "source", database=self.schema)
        try:
            # a page may wait on the consumer (masking): no server-side cut meanwhile
            run(self.conn, "SET SESSION net_write_timeout = 3600, net_read_timeout = 3600")
            self.sql_mode = text(scalar(self.conn, "SELECT @@SESSION.sql_mode") or "")
            run(self.conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            run(self.conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            self.server = server_identity(self.conn)
            self.version = self.conn.get_server_info()
        except BaseException:
            self.conn.close()
            raise
        self._catalog: Catalog | None = None
        # a subset's selected rows (engines/mysql/subset.py): a table's unique
        # key and its selected values in batches, or None for every row
        self.selected: Callable[[QualifiedName], Any] | None = None

    def sibling(self, conn: pymysql.connections.Connection) -> MySource:
        """This source read through another session (a ``--jobs`` reader)."""
        other = object.__new__(MySource)
        other.__dict__.update(self.__dict__)
        other.conn = conn
        return other

    def close(self) -> None:
        with contextlib.suppress(Exception):
            run(self.conn, "ROLLBACK")
        with contextlib.suppress(Exception):
            self.conn.close()

    def identity(self) -> dict[str, str]:
        return {
            "engine": "mysql",
            "cluster": self.server,
            "database": self.schema,
            "server_version": self.version,
        }

    # -- catalog ---------------------------------------------------------------------
    def read_catalog(self) -> Catalog:
        found = rows(
            self.conn,
            "SELECT TABLE_NAME, ENGINE, TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (self.schema,),
        )
        names = [text(r[0]) for r in found if not text(r[0]).startswith(OWN_PREFIX)]
        engines = {text(r[0]): text(r[1] or "") for r in found}
        estimates = {text(r[0]): int(r[2] or 0) for r in found}
        untransacted = sorted(n for n in names if engines[n].lower() not in ("innodb", ""))
        if untransacted:
            warning = (
                "non-transactional tables are not part of the source's snapshot (read as they "
                f"are at the time): {', '.join(untransacted)}"
            )
            if warning not in self.warnings:
                self.warnings.append(warning)
        columns: dict[str, list[Column]] = {n: [] for n in names}
        for table, name, ctype, nullable, extra, length in rows(
            self.conn,
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA, "
            "CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (self.schema,),
        ):
            if text(table) not in columns:
                continue  # a view
            ctype = text(ctype)
            columns[text(table)].append(
                Column(
                    name=text(name),
                    type=ctype,
                    nullable=text(nullable) == "YES",
                    generated=bool(_GENERATED.search(text(extra or ""))),
                    max_length=int(length)
                    if length is not None and re.match(r"(var)?char\(", ctype)
                    else None,
                )
            )
        keys: dict[str, list[str]] = {}
        for table, name in rows(
            self.conn,
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (self.schema,),
        ):
            keys.setdefault(text(table), []).append(text(name))
        references: dict[str, set[tuple[str, str]]] = {}
        for table, ref_schema, ref_table in rows(
            self.conn,
            "SELECT TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
            "AND REFERENCED_TABLE_NAME IS NOT NULL",
            (self.schema,),
        ):
            references.setdefault(text(table), set()).add((text(ref_schema), text(ref_table)))
        tables = {
            (self.schema, n): Table(
                schema=self.schema,
                name=n,
                columns=columns[n],
                primary_key=keys.get(n, []),
                row_estimate=estimates[n],
                references=references.get(n, set()),
            )
            for n in names
        }
        self._catalog = Catalog(tables=tables, default_schema=self.schema)
        return self._catalog

    def catalog(self) -> Catalog:
        return self._catalog or self.read_catalog()

    def unique_key(self, table: Table) -> list[str]:
        """The primary key, else a unique key of NOT NULL columns: what keyset
        pages are ordered by. Empty: the table is read in one stream."""
        if table.primary_key:
            return list(table.primary_key)
        nullable = {c.name for c in table.columns if c.nullable}
        found: dict[str, list[str]] = {}
        for index, column in rows(
            self.conn,
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0 "
            "AND SUB_PART IS NULL ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (self.schema, table.name),
        ):
            found.setdefault(text(index), []).append(text(column))
        for columns in found.values():
            if not set(columns) & nullable:
                return columns
        return []

    # -- schema ----------------------------------------------------------------------
    def create_table(self, name: str) -> str:
        found = rows(self.conn, f"SHOW CREATE TABLE {q(self.schema)}.{q(name)}")
        return text(found[0][1])

    def auto_increments(self) -> dict[str, int]:
        return {
            text(name): int(value)
            for name, value in rows(
                self.conn,
                "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND AUTO_INCREMENT IS NOT NULL",
                (self.schema,),
            )
            if not text(name).startswith(OWN_PREFIX)
        }

    def charset(self) -> tuple[str, str]:
        found = rows(
            self.conn,
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (self.schema,),
        )
        return text(found[0][0]), text(found[0][1])

    def objects(self) -> list[SchemaObject]:
        return [unqualified(o, self.schema) for o in schema_objects(self.conn, self.schema)]

    # -- rows ------------------------------------------------------------------------
    def rows(
        self, plan: TablePlan, batch_size: int, unless: str | None = None
    ) -> Iterator[list[list[Any]]]:
        """The table's rows in pages of ``batch_size``, as mutable lists of raw
        values; with ``unless``, a trailing ``'t'`` on rows that pass unmasked."""
        names = [c.name for c in plan.columns]
        select = ", ".join(q(n) for n in names)
        if unless:
            select += f", CASE WHEN ({unless}) THEN 't' ELSE 'f' END"
        return self._pages(plan, select, names, batch_size)

    def lines(self, plan: TablePlan, batch_size: int) -> Iterator[list[str]]:
        """A table of text-like columns only, each row already one line of
        LOAD DATA's format, escaped by the server: one field to parse per row
        instead of one per column (tables with nothing to mask)."""
        fields = ", ".join(_escaped(c.name) for c in plan.columns)
        line = f"CONCAT_WS(CHAR(9 USING utf8mb4), {fields})"
        key = self.unique_key(plan.table)
        select = ", ".join([line, *(q(k) for k in key)])
        for page in self._pages(plan, select, [""] + key, batch_size, key):
            yield [row[0] for row in page]

    def _pages(
        self,
        plan: TablePlan,
        select: str,
        names: list[str],
        batch_size: int,
        key: list[str] | None = None,
    ) -> Iterator[list[list[Any]]]:
        relation = f"{q(self.schema)}.{q(plan.table.name)}"
        chosen = self.selected(plan.table.qualified) if self.selected else None
        if chosen is not None:  # a subset: only the selected keys, a batch at a time
            yield from self._selected_pages(relation, select, *chosen)
            return
        key = self.unique_key(plan.table) if key is None else key
        if not key or any(k not in names for k in key):
            yield from self._stream(f"SELECT {select} FROM {relation}", batch_size)
            return
        at = [names.index(k) for k in key]
        order = ", ".join(q(k) for k in key)
        last: list[Any] | None = None
        while True:
            where, args = ("", []) if last is None else _after(key, last)
            with self.conn.cursor() as cur:
                cur.execute(
                    pct(f"SELECT {select} FROM {relation}")
                    + where
                    + pct(f" ORDER BY {order}")
                    + " LIMIT %s",
                    [*args, batch_size],
                )
                page = [list(r) for r in cur.fetchall()]
            if not page:
                return
            last = [page[-1][i] for i in at]  # before masking changes the row
            yield page
            if len(page) < batch_size:
                return

    def _selected_pages(
        self, relation: str, select: str, key: list[str], batches: Iterator[list[tuple[Any, ...]]]
    ) -> Iterator[list[list[Any]]]:
        columns = "(" + ", ".join(q(k) for k in key) + ")"
        for batch in batches:
            values = ", ".join(
                "(" + ", ".join(self.conn.escape(v) for v in row) + ")" for row in batch
            )
            query = f"SELECT {select} FROM {relation} WHERE {columns} IN ({values})"
            with self.conn.cursor() as cur:
                cur.execute(query + f" ORDER BY {', '.join(q(k) for k in key)}")
                page = [list(r) for r in cur.fetchall()]
            if page:
                yield page

    def foreign_keys(self, catalog: Catalog) -> list[Any]:
        """Every foreign key between the catalog's tables, for subsetting."""
        from datacloner.engines.mysql.subset import foreign_keys as subset_keys

        return subset_keys(self.conn, catalog)

    def subset_where_problem(self, table: Table, where: str) -> str | None:
        """What is wrong with a subset start's ``where`` on the live table."""
        from datacloner.engines.mysql.subset import check_where

        return check_where(self.conn, table, where)

    def _stream(self, query: str, batch_size: int) -> Iterator[list[list[Any]]]:
        with self.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(query)
            while batch := cur.fetchmany(batch_size):
                yield [list(r) for r in batch]

    def check_condition(self, plan: TablePlan) -> None:
        if not plan.unless:
            return
        try:
            rows(
                self.conn,
                f"SELECT ({plan.unless}) IS TRUE FROM {q(self.schema)}.{q(plan.table.name)} "
                "LIMIT 1",
            )
        except pymysql.err.MySQLError as exc:
            raise UsageError(
                f"`unless` of {plan.name} is not a valid condition: "
                f"{error_text(exc, [c.name for c in plan.columns])}",
                hint="write a SQL boolean expression over the table's columns",
            ) from None

    def sample(self, table: Table, columns: list[Column], limit: int) -> list[tuple[Any, ...]]:
        """The same rows every time for the same data, spread over the table by
        a hash of the key (in key order when the table has none)."""
        cols = ", ".join(q(c.name) for c in columns)
        key = self.unique_key(table) or [c.name for c in table.columns[:1]]
        spread = "CRC32(CONCAT_WS(',', " + ", ".join(q(k) for k in key) + "))"
        order = ", ".join([spread, *(q(k) for k in key)])
        try:
            found = rows(
                self.conn,
                pct(f"SELECT {cols} FROM {q(self.schema)}.{q(table.name)} ORDER BY {order}")
                + " LIMIT %s",
                (limit,),
            )
        except pymysql.err.MySQLError as exc:
            raise Refused(
                f"cannot read {table.display} from the source: {error_text(exc)}"
            ) from None
        return [tuple(r) for r in found]

    def orphans(self, schema: str, fk: ForeignKey) -> int:
        return count_orphans(self.conn, schema, fk)


def unqualified(obj: SchemaObject, schema: str) -> SchemaObject:
    """The object's statement without its source schema's name, so it is
    created in (and reads from) the schema it is run in, never the source."""
    quoted = re.escape(q(schema)) + r"\s*\.\s*"
    statement = re.sub(quoted, "", obj.statement)
    # the object's own name, if the statement spells the schema bare: `ON app.t`
    bare = r"\b" + re.escape(schema) + r"\s*\.\s*(?=[`A-Za-z_])"
    head, _, body = statement.partition(" AS " if obj.kind == "view" else "\n")
    head = re.sub(bare, "", head)
    statement = head + (_ + body if _ else "")
    return SchemaObject(obj.kind, obj.name, obj.sql_mode, statement, obj.definer)


_BACKSLASH = "CHAR(92 USING utf8mb4)"


def _escaped(column: str) -> str:
    """A column as LOAD DATA reads it: backslash, tab and newline escaped,
    NULL as \\N (CHAR(): the same under any sql_mode)."""
    value = f"CONVERT({q(column)} USING utf8mb4)"
    for char, letter in ((92, "CHAR(92 USING utf8mb4)"), (9, "'t'"), (10, "'n'")):
        value = f"REPLACE({value}, CHAR({char} USING utf8mb4), CONCAT({_BACKSLASH}, {letter}))"
    return f"IFNULL({value}, CONCAT({_BACKSLASH}, 'N'))"


def pct(sql: str) -> str:
    """SQL text put before driver parameters: its own ``%`` (a LIKE pattern
    in ``unless``, a name) doubled so the driver reads none as a placeholder."""
    return sql.replace("%", "%%")


def _after(key: list[str], last: list[Any]) -> tuple[str, list[Any]]:
    """``WHERE (a > x) OR (a = x AND b > y)``: the rows after the last page's."""
    terms = []
    args: list[Any] = []
    for n in range(len(key)):
        parts = [f"{pct(q(k))} = %s" for k in key[:n]] + [f"{pct(q(key[n]))} > %s"]
        terms.append("(" + " AND ".join(parts) + ")")
        args += last[: n + 1]
    return " WHERE " + " OR ".join(terms), args


def schema_objects(conn: pymysql.connections.Connection, schema: str) -> list[SchemaObject]:
    """Views, triggers, routines and events of ``schema``, in an order that
    creates them (views in name order; their dependencies are retried)."""
    found: list[SchemaObject] = []
    s = q(schema)
    for (name,) in rows(
        conn,
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s "
        "ORDER BY TABLE_NAME",
        (schema,),
    ):
        create = text(rows(conn, f"SHOW CREATE VIEW {s}.{q(text(name))}")[0][1])
        found.append(SchemaObject("view", text(name), "", create, definer_of(create)))
    for kind, query in (
        ("procedure", "SHOW CREATE PROCEDURE"),
        ("function", "SHOW CREATE FUNCTION"),
    ):
        for (name,) in rows(
            conn,
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
            "AND ROUTINE_TYPE = %s ORDER BY ROUTINE_NAME",
            (schema, kind.upper()),
        ):
            row = rows(conn, f"{query} {s}.{q(text(name))}")[0]
            if row[2] is None:
                raise Refused(
                    f"cannot read the {kind} {schema}.{text(name)}: its body is hidden from "
                    "this user",
                    hint="grant SELECT on mysql.proc (MariaDB) or SHOW_ROUTINE (MySQL 8)",
                )
            create = text(row[2])
            found.append(SchemaObject(kind, text(name), text(row[1]), create, definer_of(create)))
    for (name,) in rows(
        conn,
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
        "ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        (schema,),
    ):
        row = rows(conn, f"SHOW CREATE TRIGGER {s}.{q(text(name))}")[0]
        create = text(row[2])
        found.append(SchemaObject("trigger", text(name), text(row[1]), create, definer_of(create)))
    for (name,) in rows(
        conn,
        "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s "
        "ORDER BY EVENT_NAME",
        (schema,),
    ):
        row = rows(conn, f"SHOW CREATE EVENT {s}.{q(text(name))}")[0]
        create = text(row[3])
        found.append(SchemaObject("event", text(name), text(row[1]), create, definer_of(create)))
    return found


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


def foreign_keys(conn: pymysql.connections.Connection, schema: str) -> list[ForeignKey]:
    grouped: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for table, name, column, ref_table, ref_column in rows(
        conn,
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, "
        "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_SCHEMA = %s "
        "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        (schema, schema),
    ):
        grouped.setdefault((text(table), text(name)), []).append(
            (text(column), text(ref_table), text(ref_column))
        )
    return [
        ForeignKey(
            name=name,
            table=table,
            columns=tuple(c for c, _, _ in parts),
            ref_table=parts[0][1],
            ref_columns=tuple(r for _, _, r in parts),
        )
        for (table, name), parts in grouped.items()
    ]


def count_orphans(conn: pymysql.connections.Connection, schema: str, fk: ForeignKey) -> int:
    """Rows whose foreign key (all columns set) has no parent: an anti-join,
    since re-enabling ``foreign_key_checks`` checks nothing."""
    child, parent = f"{q(schema)}.{q(fk.table)}", f"{q(schema)}.{q(fk.ref_table)}"
    match = " AND ".join(
        f"p.{q(r)} = c.{q(c)}" for c, r in zip(fk.columns, fk.ref_columns, strict=True)
    )
    present = " AND ".join(f"c.{q(c)} IS NOT NULL" for c in fk.columns)
    return int(
        scalar(
            conn,
            f"SELECT count(*) FROM {child} c WHERE {present} "
            f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})",
        )
        or 0
    )


def system_schema(name: str) -> bool:
    return name.lower() in SYSTEM_SCHEMAS
