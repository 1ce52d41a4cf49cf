"""Comparisons between a source and a target PostgreSQL database, for tests."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

_OURS = "('pg_catalog', 'information_schema', 'datacloner')"
CATALOG_COUNTS = {
    "tables": "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN " + _OURS + " "
    "AND n.nspname NOT LIKE 'pg_toast%%'",
    "indexes": "SELECT count(*) FROM pg_indexes WHERE schemaname NOT IN " + _OURS,
    "constraints": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n "
    "ON n.oid = c.connamespace WHERE n.nspname NOT IN " + _OURS,
    "triggers": "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal",
    "schemas": "SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
    "AND nspname NOT IN ('information_schema', 'datacloner')",
    "views": "SELECT count(*) FROM pg_views WHERE schemaname NOT IN " + _OURS,
    "matviews": "SELECT count(*) FROM pg_matviews",
    "sequences": "SELECT count(*) FROM pg_sequences WHERE schemaname <> 'datacloner'",
    "types": "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    "WHERE n.nspname NOT IN " + _OURS + " AND t.typtype IN ('e', 'd', 'c') "
    "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')",
    "functions": "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname NOT IN " + _OURS,
    "extensions": "SELECT count(*) FROM pg_extension",
}


def catalog_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {name: conn.execute(query).fetchone()[0] for name, query in CATALOG_COUNTS.items()}


def sequence_positions(conn: psycopg.Connection) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
        "WHERE schemaname <> 'datacloner'"
    ).fetchall()
    return dict(rows)


def user_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Tables that hold rows (leaf tables, partitions included)."""
    return conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
        "('pg_catalog', 'information_schema', 'datacloner') AND n.nspname NOT LIKE 'pg_toast%%' "
        "ORDER BY 1, 2"
    ).fetchall()


def row_count(conn: psycopg.Connection, schema: str, table: str) -> int:
    return conn.execute(
        sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, table))
    ).fetchone()[0]


def columns_digest(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> str:
    """An order-independent digest of the given columns' exact text values."""
    row = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    query = sql.SQL(
        "SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
        "FROM (SELECT {} AS r FROM ONLY {}) s"
    ).format(row, sql.Identifier(schema, table))
    return conn.execute(query).fetchone()[0]


def column_values(
    conn: psycopg.Connection, schema: str, table: str, key: list[str], column: str
) -> dict[tuple[Any, ...], Any]:
    query = sql.SQL("SELECT {}, {}::text FROM ONLY {}").format(
        sql.SQL(", ").join(sql.Identifier(k) for k in key),
        sql.Identifier(column),
        sql.Identifier(schema, table),
    )
    return {tuple(r[:-1]): r[-1] for r in conn.execute(query)}


def all_digests(server, name: str) -> dict[tuple[str, str], str]:
    """Every table's digest over all its columns, for "identical copies"."""
    with server.connect(name) as conn:
        result = {}
        for schema, table in user_tables(conn):
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND NOT attisdropped",
                    (sql.Identifier(schema, table).as_string(conn),),
                )
            ]
            result[(schema, table)] = columns_digest(conn, schema, table, cols)
        return result
