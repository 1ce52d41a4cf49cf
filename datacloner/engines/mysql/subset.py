"""MySQL/MariaDB's side of subsetting (docs/subset.md).

Reads run on the source's session, in its read-only consistent snapshot: no
temporary table, no write, so a read-only user will do. A row is known by
its unique key (the primary key, else a unique key of NOT NULL columns: a
table with neither cannot be subset). The selected keys, and the key columns
the foreign keys need, are kept in tables ``__dc_subset_*`` of the new copy
being built (its shadow schema), typed as on the source, and dropped before
the swap. Key values travel to the source as literals in ``IN`` lists.

The row hash is the same as PostgreSQL's: the first 15 hex digits of
``MD5(salt || key text)`` as a 60-bit number, the key text ``(v1,v2)``,
computed by the server; a share keeps the rows whose hash is under
``share * 2**60``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pymysql

from datacloner.core.catalog import Catalog, QualifiedName, Table
from datacloner.core.errors import UsageError
from datacloner.core.subset import Start
from datacloner.engines.mysql.connection import connect, error_text, q, rows, run, text
from datacloner.subset.graph import Edge, ForeignKey, SubsetPlan
from datacloner.subset.select import FollowingStore

PREFIX = "__dc_subset_"
BATCH = 5_000  # key values per query on the source; rows per insert into the store
_INTEGER = re.compile(r"^(tiny|small|medium|big)?int(eger)?\b", re.I)
_DECIMAL = re.compile(r"^(decimal|numeric|dec|fixed)\b", re.I)


def foreign_keys(conn: pymysql.connections.Connection, catalog: Catalog) -> list[ForeignKey]:
    """Every foreign key between catalog tables (composite ones, and those
    that reference a unique non-primary key, as declared)."""
    grouped: dict[tuple[str, str, str], list[tuple[str, str, str, str]]] = {}
    schemas = sorted({s for s, _ in catalog.tables})
    for schema in schemas:
        for table, name, column, ref_schema, ref_table, ref_column in rows(
            conn,
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
            "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
            (schema,),
        ):
            grouped.setdefault((schema, text(table), text(name)), []).append(
                (text(column), text(ref_schema), text(ref_table), text(ref_column))
            )
    found = []
    for (schema, table, name), parts in sorted(grouped.items()):
        child, parent = (schema, table), (parts[0][1], parts[0][2])
        if child not in catalog.tables or parent not in catalog.tables:
            continue
        columns = tuple(p[0] for p in parts)
        t = catalog.tables[child]
        nullable = all((c := t.column(col)) is None or c.nullable for col in columns)
        found.append(ForeignKey(name, child, columns, parent, tuple(p[3] for p in parts), nullable))
    return found


def check_where(conn: pymysql.connections.Connection, table: Table, where: str) -> str | None:
    """What is wrong with a start's ``where`` on the live table, or None."""
    try:
        rows(conn, f"SELECT 1 FROM {q(table.schema)}.{q(table.name)} WHERE ({where}) LIMIT 0")
    except pymysql.err.MySQLError as exc:
        return error_text(exc, [c.name for c in table.columns] + where.split())
    return None


def typed(column_type: str, value: Any) -> Any:
    """A raw value (the server's text) as the Python value whose literal
    compares exactly: a big integer compared as text would be a double."""
    if value is None or isinstance(value, bytes | bytearray):
        return value
    if _INTEGER.match(column_type):
        return int(value)
    if _DECIMAL.match(column_type):
        return Decimal(str(value))
    return value


class MySubsetStore(FollowingStore):
    """The selection (a :class:`datacloner.subset.select.Store`): reads on the
    source's snapshot session, keys kept in the new copy's schema."""

    def __init__(self, source: Any, catalog: Catalog, params: Any, schema: str, salt: str) -> None:
        self.source = source
        self.catalog = catalog
        self.salt = salt
        self.schema = schema
        self.conn = connect(params, "new target", database=schema)
        self.tables: dict[QualifiedName, str] = {}
        self.ids: dict[QualifiedName, list[str]] = {}  # the row's identity: its unique key
        self.cols: dict[QualifiedName, list[str]] = {}  # store column c<i> -> source column

    def close(self) -> None:
        self.conn.close()

    # -- the store -----------------------------------------------------------------
    def prepare(self, plan: SubsetPlan) -> None:
        for i, name in enumerate(sorted(plan.selected)):
            table = self.catalog.tables[name]
            ids = self.source.unique_key(table)
            if not ids:
                raise UsageError(
                    f"subset: {table.display} has no primary key nor unique key of NOT NULL "
                    "columns, which a MySQL subset needs to know its rows by",
                    hint="list it under `all:` or `empty:` in subset, or give it a primary key",
                )
            cols = ids + [c for c in plan.keys[name] if c not in ids]
            store = f"{PREFIX}t{i}"
            self.tables[name], self.ids[name], self.cols[name] = store, ids, cols
            defs = ", ".join(f"c{j} {self._type(table, c)} NULL" for j, c in enumerate(cols))
            unique = ", ".join(f"c{j}" for j in range(len(ids)))
            run(
                self.conn,
                f"CREATE TABLE {q(store)} ({defs}, up_gen INT NOT NULL, down_gen INT NULL, "
                f"UNIQUE KEY ({unique})) ENGINE=InnoDB",
            )

    @staticmethod
    def _type(table: Table, column: str) -> str:
        c = table.column(column)
        return c.type if c else "TEXT"

    def _typed(
        self, table: QualifiedName, columns: list[str], values: tuple[Any, ...]
    ) -> list[Any]:
        t = self.catalog.tables[table]
        return [typed(self._type(t, c), v) for c, v in zip(columns, values, strict=True)]

    def _hash(self, table: QualifiedName, alias: str) -> str:
        """The keyed row hash in [0, 2**60), on the server (the salt: ``%s``)."""
        key = ", ".join(f"{alias}.{q(c)}" for c in self.ids[table])
        return (
            "CAST(CONV(SUBSTR(MD5(CONCAT(%s, '(', CONCAT_WS(',', " + key + "), ')')), 1, 15), "
            "16, 10) AS UNSIGNED)"
        )

    def _select_cols(self, table: QualifiedName, alias: str) -> str:
        return ", ".join(f"{alias}.{q(c)}" for c in self.cols[table])

    def _read(self, query: str, args: list[Any]) -> Iterator[list[tuple[Any, ...]]]:
        with self.source.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(query, args)
            while batch := cur.fetchmany(BATCH):
                yield list(batch)

    def _selected(self, table: QualifiedName) -> tuple[int, int]:
        found = rows(self.conn, f"SELECT count(*), count(down_gen) FROM {q(self.tables[table])}")[0]
        return int(found[0]), int(found[1])

    def _insert(
        self, table: QualifiedName, found: list[tuple[Any, ...]], gen: int, down: bool
    ) -> None:
        if not found:
            return
        width = len(self.cols[table])
        names = "".join(f"c{j}, " for j in range(width))
        marks = "%s, " * width
        tail = (
            " ON DUPLICATE KEY UPDATE down_gen = IFNULL(down_gen, VALUES(down_gen))"
            if down
            else " ON DUPLICATE KEY UPDATE up_gen = up_gen"
        )
        with self.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {q(self.tables[table])} ({names}up_gen, down_gen) "
                f"VALUES ({marks}%s, %s){tail}",
                [(*r, gen, gen if down else None) for r in found],
            )

    def _fill(
        self, table: QualifiedName, query: str, args: list[Any], gen: int, down: bool
    ) -> None:
        for found in self._read(query, args):
            self._insert(table, found, gen, down)

    # -- the steps -----------------------------------------------------------------
    def seed(self, table: QualifiedName, start: Start) -> int:
        t = self.catalog.tables[table]
        rel = f"{q(t.schema)}.{q(t.name)}"
        query = f"SELECT {self._select_cols(table, 'r')} FROM {rel} r"
        args: list[Any] = []
        conditions = []
        if start.where:
            conditions.append("(" + start.where.replace("%", "%%") + ")")
        if start.share is not None and start.share < 100:
            conditions.append(f"{self._hash(table, 'r')} < %s")
            args += [self.salt, int(start.share / 100 * 2**60)]
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        if start.count is not None:
            order = ", ".join(f"r.{q(c)}" for c in self.ids[table])
            query += f" ORDER BY {self._hash(table, 'r')}, {order} LIMIT %s"
            args += [self.salt, start.count]
        before = self._selected(table)[1]
        self._fill(table, query, args, 0, True)
        return self._selected(table)[1] - before

    def _values(
        self, table: QualifiedName, columns: tuple[str, ...], where: str
    ) -> list[tuple[Any, ...]]:
        """Distinct non-NULL values of ``columns`` among the store's rows of
        ``table`` that ``where`` picks, typed for the source."""
        picked = [f"c{self.cols[table].index(c)}" for c in columns]
        found = rows(
            self.conn,
            f"SELECT DISTINCT {', '.join(picked)} FROM {q(self.tables[table])} WHERE {where} AND "
            + " AND ".join(f"{p} IS NOT NULL" for p in picked),
        )
        return [tuple(self._typed(table, list(columns), r)) for r in found]

    def _follow(
        self,
        frm: QualifiedName,
        frm_cols: tuple[str, ...],
        to: QualifiedName,
        to_cols: tuple[str, ...],
        generation: str,
        gen: int,
        down: bool,
        cap: int | None,
    ) -> int:
        t = self.catalog.tables[to]
        rel = f"{q(t.schema)}.{q(t.name)}"
        before = self._selected(to)
        values = self._values(frm, frm_cols, f"{generation} = {gen - 1}")
        lhs = "(" + ", ".join(f"r.{q(c)}" for c in to_cols) + ")"
        for i in range(0, len(values), BATCH):
            batch = values[i : i + BATCH]
            inlist = ", ".join(
                "(" + ", ".join(self.source.conn.escape(v) for v in row) + ")" for row in batch
            ).replace("%", "%%")
            match = f"{lhs} IN ({inlist})"
            cols = self._select_cols(to, "r")
            if cap is None:
                query, args = f"SELECT {cols} FROM {rel} r WHERE {match}", []
            else:
                order = ", ".join(f"r.{q(c)}" for c in self.ids[to])
                part = ", ".join(f"r.{q(c)}" for c in to_cols)
                outer = ", ".join(f"s.k{j}" for j in range(len(self.cols[to])))
                inner = ", ".join(f"r.{q(c)} AS k{j}" for j, c in enumerate(self.cols[to]))
                query = (
                    f"SELECT {outer} FROM (SELECT {inner}, ROW_NUMBER() OVER (PARTITION BY "
                    f"{part} ORDER BY {self._hash(to, 'r')}, {order}) AS n FROM {rel} r "
                    f"WHERE {match}) s WHERE s.n <= {int(cap)}"
                )
                args = [self.salt]
            self._fill(to, query, args, gen, down)
        after = self._selected(to)
        return after[1] - before[1] if down else after[0] - before[0]

    def _up_from_whole(self, edge: Edge) -> int:
        child, parent = self.catalog.tables[edge.child], self.catalog.tables[edge.parent]
        refs = ", ".join(f"r.{q(c)}" for c in edge.fk.ref_columns)
        cols = ", ".join(f"c.{q(c)}" for c in edge.fk.columns)
        query = (
            f"SELECT {self._select_cols(edge.parent, 'r')} FROM "
            f"{q(parent.schema)}.{q(parent.name)} r WHERE ({refs}) IN "
            f"(SELECT {cols} FROM {q(child.schema)}.{q(child.name)} c)"
        )
        before = self._selected(edge.parent)[0]
        self._fill(edge.parent, query, [], 0, False)
        return self._selected(edge.parent)[0] - before

    def counts(self) -> dict[QualifiedName, int]:
        return {table: self._selected(table)[0] for table in self.tables}

    def whole_count(self, table: QualifiedName) -> int:
        found = rows(self.source.conn, f"SELECT count(*) FROM {q(table[0])}.{q(table[1])}")
        return int(found[0][0]) if found else 0

    # -- the copy ------------------------------------------------------------------
    def keys(
        self, table: QualifiedName
    ) -> tuple[list[str], Iterator[list[tuple[Any, ...]]]] | None:
        """The unique key of a selected table and its selected values, a batch
        at a time in key order (typed); None for a table not subset."""
        if table not in self.tables:
            return None
        ids = self.ids[table]
        return ids, self._keys(table, ids)

    def _keys(self, table: QualifiedName, ids: list[str]) -> Iterator[list[tuple[Any, ...]]]:
        # streamed: the store's session does nothing else while the rows are copied
        order = ", ".join(f"c{j}" for j in range(len(ids)))
        with self.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(f"SELECT {order} FROM {q(self.tables[table])} ORDER BY {order}")
            while batch := cur.fetchmany(BATCH):
                yield [tuple(self._typed(table, ids, r)) for r in batch]

    def finish(self, nulled: list[ForeignKey]) -> None:
        """After the rows, before post-data: a nullable key whose parent row was
        not copied becomes NULL; the store's tables are dropped."""
        run(self.conn, "SET SESSION foreign_key_checks = 0")
        for fk in nulled:
            sets = ", ".join(f"c.{q(c)} = NULL" for c in fk.columns)
            present = " AND ".join(f"c.{q(c)} IS NOT NULL" for c in fk.columns)
            joins = " AND ".join(
                f"p.{q(p)} = c.{q(c)}" for c, p in zip(fk.columns, fk.ref_columns, strict=True)
            )
            run(
                self.conn,
                f"UPDATE {q(fk.child[1])} c SET {sets} WHERE {present} AND NOT EXISTS "
                f"(SELECT 1 FROM {q(fk.parent[1])} p WHERE {joins})",
            )
        for name in self.tables.values():
            run(self.conn, f"DROP TABLE IF EXISTS {q(name)}")
