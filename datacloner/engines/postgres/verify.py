"""PostgreSQL side of ``datacloner verify``: sample the masked columns of the source
in its read-only snapshot, and stream the text-like columns of a target with COPY.

The target is read in one ``REPEATABLE READ READ ONLY`` transaction: one consistent
picture, and verify can never change it. Sampled values go straight to the caller,
which hashes them; nothing here logs or raises with a value.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from datacloner.core.catalog import Column, Table, display_name
from datacloner.engines.base import TargetTable, sample_error
from datacloner.engines.postgres.connection import conn_params, connect
from datacloner.engines.postgres.rows import copy_blocks
from datacloner.engines.postgres.source import PgSource

_SYSTEM = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
    "AND d.objid = c.oid AND d.deptype = 'e')"
)
# A column's type is searched as text when its base type is one of these (or an
# array of one): what can hold an email, a name or a phone number as text.
_TEXT_NAMES = ("json", "jsonb", "xml", "tsvector")
# Masked columns of these types are sampled as text too (an id, an IP address).
_SAMPLED_NAMES = ("uuid", "cidr", "macaddr", "macaddr8", "int2", "int4", "int8", "numeric")


@dataclass(frozen=True)
class _Type:
    name: str
    typtype: str  # d: domain
    base: int  # a domain's base type
    elem: int  # an array's element type
    category: str  # S: string, A: array, I: network...


def _load_types(conn: psycopg.Connection) -> dict[int, _Type]:
    rows = conn.execute(
        "SELECT oid, typname, typtype, typbasetype, typelem, typcategory FROM pg_type"
    ).fetchall()
    return {r[0]: _Type(r[1], r[2], r[3], r[4], r[5]) for r in rows}


ColumnTypes = dict[tuple[str, str], dict[str, tuple[str, int]]]


def _load_columns(conn: psycopg.Connection) -> ColumnTypes:
    """Every user table's columns (format_type spelling, type oid), by (schema,
    table): one query for the whole database, not one per column looked up."""
    columns: ColumnTypes = {}
    for schema, table, name, spelling, typid in conn.execute(
        "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
        "a.atttypid FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped AND " + _SYSTEM
    ):
        columns.setdefault((schema, table), {})[name] = (spelling, int(typid))
    return columns


def _base(types: dict[int, _Type], oid: int) -> _Type | None:
    t = types.get(oid)
    for _ in range(32):  # domains over domains
        if t is None or t.typtype != "d":
            return t
        t = types.get(t.base)
    return None


def _searched(types: dict[int, _Type], oid: int, depth: int = 0) -> bool:
    """Whether the target's text of this type is searched."""
    t = _base(types, oid)
    if t is None:
        return False
    if t.category == "A" and t.elem and depth == 0:
        return _searched(types, t.elem, 1)
    return t.category == "S" or t.name in _TEXT_NAMES


def _sample_kind(types: dict[int, _Type], oid: int, depth: int = 0) -> str | None:
    """How a masked source column is sampled: text, inet, json, array:<kind>, or not."""
    t = _base(types, oid)
    if t is None:
        return None
    if t.category == "A" and t.elem and depth == 0:
        inner = _sample_kind(types, t.elem, 1)
        return f"array:{inner}" if inner else None
    if t.name in ("json", "jsonb"):
        return "json"
    if t.name == "inet":
        return "inet"  # host(): without the /32
    if t.category == "S" or t.name in _SAMPLED_NAMES or t.name in _TEXT_NAMES:
        return "text"
    return None  # dates, booleans, floats, bytea, geometry: nothing to find in text


def _jsonpath(path: tuple[str, ...]) -> str:
    """``contact.email`` -> ``lax $."contact"."email".**``: the value and, when it is
    an object or array, everything under it; ``*`` is any element or member."""
    parts = [
        "**{1}" if p == "*" else '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for p in path
    ]
    return "lax $." + ".".join(parts) + ".**"


def _as_text(kind: str, value: sql.Composable) -> sql.Composable:
    if kind == "inet":
        return sql.SQL("host({})").format(value)
    return sql.SQL("({})::text").format(value)


class PgSampler:
    """Distinct values of masked columns, read in the source's snapshot."""

    def __init__(self, source: PgSource) -> None:
        self.source = source
        self.conn = source.conn
        self.types = _load_types(self.conn)
        # the catalog is read once, whole, when first needed: per-column lookups
        # made verify's catalog round trips grow with the columns
        self._columns: ColumnTypes | None = None
        self._roots: dict[tuple[str, str], tuple[str, str]] | None = None

    def close(self) -> None:
        self.source.close()

    def root(self, table: Table) -> tuple[str, str]:
        if table.parent is None:
            return table.schema, table.name
        if self._roots is None:
            # every partition's root in one query, on the first partition asked about
            self._roots = {
                (r[0], r[1]): (r[2], r[3])
                for r in self.conn.execute(
                    "SELECT n.nspname, c.relname, rn.nspname, r.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_class r ON r.oid = pg_partition_root(c.oid) "
                    "JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE c.relispartition"
                )
            }
        return self._roots.get((table.schema, table.name), (table.schema, table.name))

    def _type_of(self, table: Table, column: Column) -> int:
        if self._columns is None:
            self._columns = _load_columns(self.conn)
        found = self._columns.get((table.schema, table.name), {}).get(column.name)
        return found[1] if found else 0

    def sample(
        self,
        table: Table,
        column: Column,
        limit: int,
        unless: str | None,
        paths: list[tuple[str, ...]] | None,
    ) -> list[str] | None:
        kind = _sample_kind(self.types, self._type_of(table, column))
        if kind is None:
            return None
        col = sql.Identifier(column.name)
        lateral: sql.Composable = sql.SQL("")
        where = [sql.SQL("{} IS NOT NULL").format(col)]
        if paths:
            # only what a json rule rewrites: the rest of the document is kept
            queries = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT jsonb_path_query({}::jsonb, {}::jsonpath)").format(
                    col, sql.Literal(_jsonpath(p))
                )
                for p in paths
            )
            lateral = sql.SQL(", LATERAL ({}) AS dc_values(dc_node)").format(queries)
            where.append(sql.SQL("jsonb_typeof(dc_node) IN ('string', 'number')"))
            value = sql.SQL("dc_node #>> '{}'")
        elif kind == "json":
            lateral = sql.SQL(
                ", LATERAL jsonb_path_query({}::jsonb, 'strict $.**') AS dc_values(dc_node)"
            ).format(col)
            where.append(sql.SQL("jsonb_typeof(dc_node) IN ('string', 'number')"))
            value = sql.SQL("dc_node #>> '{}'")
        elif kind.startswith("array:"):
            lateral = sql.SQL(", LATERAL unnest({}) AS dc_values(dc_elem)").format(col)
            inner = kind.split(":", 1)[1]
            value = _as_text(inner, sql.SQL("dc_elem"))
        else:
            value = _as_text(kind, col)
        if unless:
            # rows the rules pass unmasked are in the target by design
            where.append(sql.SQL("({}) IS NOT TRUE").format(sql.SQL(unless)))  # type: ignore[arg-type]
        sampling: sql.Composable = sql.SQL("")
        if table.row_estimate > limit * 4:
            percent = min(100.0, 100.0 * limit * 4 / table.row_estimate)
            sampling = sql.SQL(" TABLESAMPLE BERNOULLI ({})").format(sql.Literal(percent))
        query = sql.SQL(
            "SELECT DISTINCT dc_v FROM (SELECT {value} AS dc_v FROM ONLY {rel}{sampling}{lateral} "
            "WHERE {where}) AS dc_s WHERE dc_v IS NOT NULL AND dc_v <> '' LIMIT {limit}"
        ).format(
            value=value,
            rel=sql.Identifier(table.schema, table.name),
            sampling=sampling,
            lateral=lateral,
            where=sql.SQL(" AND ").join(where),
            limit=sql.Literal(limit),
        )
        self.conn.execute("SAVEPOINT dc_sample")
        try:
            rows = self.conn.execute(query).fetchall()
        except psycopg.Error as exc:
            self.conn.execute("ROLLBACK TO SAVEPOINT dc_sample")
            raise sample_error(table, column, exc) from None
        self.conn.execute("RELEASE SAVEPOINT dc_sample")
        return [r[0] for r in rows]

    def sample_rows(
        self,
        table: Table,
        column: Column,
        limit: int,
        unless: str | None,
        path: tuple[str, ...] | None,
    ) -> tuple[list[str], list[tuple[str, list[str]]]] | None:
        """Rows of a masked column with their primary key, for verify's same-row
        comparison (see verify/same_row.py)."""
        key = list(table.primary_key)
        kind = _sample_kind(self.types, self._type_of(table, column))
        if not key or kind is None:
            return None
        where = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(column.name))]
        if unless:
            where.append(sql.SQL("({}) IS NOT TRUE").format(sql.SQL(unless)))  # type: ignore[arg-type]
        sampling: sql.Composable = sql.SQL("")
        if table.row_estimate > limit * 4:
            percent = min(100.0, 100.0 * limit * 4 / table.row_estimate)
            sampling = sql.SQL(" TABLESAMPLE BERNOULLI ({})").format(sql.Literal(percent))
        query = sql.SQL(
            "SELECT {key}, {values} FROM ONLY {rel}{sampling} WHERE {where} LIMIT {n}"
        ).format(
            key=_key_text(key),
            values=_values(kind, column.name, path),
            rel=sql.Identifier(table.schema, table.name),
            sampling=sampling,
            where=sql.SQL(" AND ").join(where),
            n=sql.Literal(limit),
        )
        self.conn.execute("SAVEPOINT dc_rows")
        try:
            rows = self.conn.execute(query).fetchall()
        except psycopg.Error:
            self.conn.execute("ROLLBACK TO SAVEPOINT dc_rows")
            return None  # the search still runs; `sample` reports what is wrong
        self.conn.execute("RELEASE SAVEPOINT dc_rows")
        return key, [(r[0], list(r[1] or [])) for r in rows]


def _key_text(key: list[str]) -> sql.Composable:
    """A row's primary key as JSON text, the same in source and target."""
    return sql.SQL("json_build_array({})::text").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in key)
    )


def _values(kind: str, column: str, path: tuple[str, ...] | None) -> sql.Composable:
    """A column's values as a text array, in order: the value, an array's elements,
    the strings and numbers at a JSON path."""
    col = sql.Identifier(column)
    if path is not None or kind == "json":
        jsonpath = _jsonpath(path) if path is not None else "strict $.**"
        return sql.SQL(
            "ARRAY(SELECT dc_n #>> '{{}}' FROM jsonb_path_query({}::jsonb, {}::jsonpath) AS "
            "dc_p(dc_n) WHERE jsonb_typeof(dc_n) IN ('string', 'number'))"
        ).format(col, sql.Literal(jsonpath))
    if kind.startswith("array:"):
        inner = _as_text(kind.split(":", 1)[1], sql.SQL("dc_e"))
        return sql.SQL(
            "ARRAY(SELECT {} FROM unnest({}) WITH ORDINALITY AS dc_u(dc_e, dc_i) ORDER BY dc_i)"
        ).format(inner, col)
    return sql.SQL("ARRAY[{}]").format(_as_text(kind, col))


class PgTargetReader:
    """The text-like columns of every table and populated materialized view."""

    copy_text = True

    def __init__(self, url: str) -> None:
        params = conn_params(url)
        params.pop("maintenance_db", None)
        self.conn = connect(params, "target")
        # verify reads only: the session and the transaction are both read-only
        self.conn.execute("SET default_transaction_read_only = on")
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._types: dict[int, _Type] | None = None  # loaded once, for rows()
        self._columns: ColumnTypes | None = None  # likewise

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("ROLLBACK")
        self.conn.close()

    def tables(self) -> tuple[list[TargetTable], list[str]]:
        types = _load_types(self.conn)
        rels = self.conn.execute(
            "SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispopulated, "
            "CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(greatest(l.reltuples, 0)), 0) "
            "  FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid "
            "  WHERE t.isleaf) ELSE greatest(c.reltuples, 0) END::bigint "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND "
            + _SYSTEM
            + " ORDER BY n.nspname, c.relname"
        ).fetchall()
        columns: dict[int, list[str]] = {}
        for relid, name, typid in self.conn.execute(
            "SELECT attrelid, attname, atttypid FROM pg_attribute WHERE attrelid = ANY(%s) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attrelid, attnum",
            ([r[0] for r in rels],),
        ):
            if _searched(types, typid):
                columns.setdefault(relid, []).append(name)
        found: list[TargetTable] = []
        notes: list[str] = []
        for oid, schema, name, relkind, populated, estimate in rels:
            display = display_name((schema, name))
            if relkind == "m" and not populated:
                notes.append(f"materialized view {display} is not populated: nothing to search")
                continue
            if oid not in columns:
                continue  # no text-like column
            found.append(
                TargetTable(
                    schema=schema,
                    name=name,
                    kind="materialized view" if relkind == "m" else "table",
                    columns=columns[oid],
                    rows=int(estimate),
                    only=relkind == "r",
                )
            )
        return found, notes

    def blocks(self, table: TargetTable, size: int) -> Iterator[bytes]:
        query = sql.SQL("COPY (SELECT {} FROM {}{}) TO STDOUT").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
            # a plain table's inheritance children are searched as tables of their own
            sql.SQL("ONLY ") if table.only else sql.SQL(""),
            sql.Identifier(table.schema, table.name),
        )
        with self.conn.cursor() as cur, cur.copy(query) as copy:
            yield from copy_blocks(copy, size)

    def rows(
        self,
        schema: str,
        table: str,
        column: str,
        key: list[str],
        keys: list[str],
        path: tuple[str, ...] | None,
    ) -> dict[str, list[str]] | None:
        """The target rows with these primary keys (JSON text, as sample_rows gives
        them), found through the key's index."""
        rel = sql.Identifier(schema, table)
        if self._columns is None:
            self._columns = _load_columns(self.conn)
        types = self._columns.get((schema, table), {})
        if column not in types or any(k not in types for k in key):
            return None
        if self._types is None:
            self._types = _load_types(self.conn)
        kind = _sample_kind(self._types, types[column][1])
        if kind is None:
            return None
        columns = [json.loads(k) for k in keys]
        wanted = sql.SQL("SELECT {} FROM unnest({}) AS dc_k({})").format(
            sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Identifier(f"k{i}"), sql.SQL(types[k][0]))
                for i, k in enumerate(key)
            ),
            sql.SQL(", ").join(sql.SQL("{}::text[]").format(sql.Placeholder()) for _ in key),
            sql.SQL(", ").join(sql.Identifier(f"k{i}") for i in range(len(key))),
        )
        query = sql.SQL("SELECT {key}, {values} FROM {rel} WHERE ({cols}) IN ({wanted})").format(
            key=_key_text(key),
            values=_values(kind, column, path),
            rel=rel,
            cols=sql.SQL(", ").join(sql.Identifier(k) for k in key),
            wanted=wanted,
        )
        params = [[c[i] for c in columns] for i in range(len(key))]
        self.conn.execute("SAVEPOINT dc_rows")
        try:
            rows = self.conn.execute(query, params).fetchall()
        except psycopg.Error:
            self.conn.execute("ROLLBACK TO SAVEPOINT dc_rows")
            return None
        self.conn.execute("RELEASE SAVEPOINT dc_rows")
        return {r[0]: list(r[1] or []) for r in rows}


def open_source(url: str) -> contextlib.closing[PgSampler]:
    return contextlib.closing(PgSampler(PgSource(url)))


def open_target(url: str) -> contextlib.closing[PgTargetReader]:
    return contextlib.closing(PgTargetReader(url))
