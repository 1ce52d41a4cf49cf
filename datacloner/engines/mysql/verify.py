"""MySQL/MariaDB side of ``datacloner verify``: sample the masked columns of
the source (in its read-only snapshot), and stream every text-like value of
the target's tables. Nothing here logs or raises with a value."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import pymysql

from datacloner.core.catalog import Column, Table
from datacloner.core.errors import UsageError
from datacloner.engines.base import TargetTable, sample_error
from datacloner.engines.mysql.connection import (
    connect,
    params_of,
    q,
    rows,
    run,
    text,
)
from datacloner.engines.mysql.source import OWN_PREFIX, MySource, pct
from datacloner.engines.mysql.swap import MANIFEST
from datacloner.masking.columns import INT, JSON, OTHER, TEXT, column_type

_SAMPLED = (TEXT, OTHER, INT, JSON, "uuid", "inet")
_TEXT_TYPES = re.compile(r"^(var)?char|text|enum|set|json|longtext|mediumtext|tinytext", re.I)


class MySampler:
    def __init__(self, source: MySource) -> None:
        self.source = source
        self.conn = source.conn

    def close(self) -> None:
        self.source.close()

    def root(self, table: Table) -> tuple[str, str]:
        return table.schema, table.name  # partitions are not tables of their own here

    def sample(
        self,
        table: Table,
        column: Column,
        limit: int,
        unless: str | None,
        paths: list[tuple[str, ...]] | None,
    ) -> list[str] | None:
        ct = column_type(column)
        if ct.category not in _SAMPLED or "blob" in ct.base or "binary" in ct.base:
            return None
        col = q(column.name)
        keep = f" AND NOT (({unless}) <=> TRUE)" if unless else ""
        if paths:
            # strings at the rule's paths: JSON_EXTRACT with a wildcard path
            values = []
            for path in paths:
                json_path = "$" + "".join("[*]" if p == "*" else "." + _json_key(p) for p in path)
                values.append(
                    f"SELECT JSON_UNQUOTE(JSON_EXTRACT({col}, '{json_path}')) AS v "
                    f"FROM {q(table.schema)}.{q(table.name)} WHERE JSON_VALID({col}){keep}"
                )
            inner = " UNION ALL ".join(values)
        else:
            inner = (
                f"SELECT CAST({col} AS CHAR) AS v FROM {q(table.schema)}.{q(table.name)} "
                f"WHERE {col} IS NOT NULL{keep}"
            )
        query = (
            pct(f"SELECT DISTINCT v FROM ({inner}) AS dc WHERE v IS NOT NULL AND v <> '' ")
            + "ORDER BY CRC32(v), v LIMIT %s"
        )
        try:
            found = rows(self.conn, query, (limit,))
        except pymysql.err.MySQLError as exc:
            raise sample_error(table, column, exc) from None
        return [text(r[0]) for r in found]


def _json_key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part) else '"' + part + '"'


class MyTargetReader:
    copy_text = False

    def __init__(self, url: str) -> None:
        self.params = params_of(url)
        self.schema = self.params.database
        self.conn = connect(self.params, "target")
        found = rows(
            self.conn,
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (self.schema,),
        )
        if not found:
            self.conn.close()
            raise UsageError(
                f"the target schema {self.schema!r} does not exist",
                hint="refresh the environment first: datacloner refresh ENV",
            )
        run(self.conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        run(self.conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            run(self.conn, "ROLLBACK")
        self.conn.close()

    def tables(self) -> tuple[list[TargetTable], list[str]]:
        names = [
            text(r[0])
            for r in rows(
                self.conn,
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                (self.schema,),
            )
            if not text(r[0]).startswith(OWN_PREFIX)
        ]
        columns: dict[str, list[str]] = {n: [] for n in names}
        for table, name, ctype in rows(
            self.conn,
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (self.schema,),
        ):
            if text(table) in columns and _TEXT_TYPES.match(text(ctype)):
                columns[text(table)].append(text(name))
        found = []
        named = self._source_schema()
        for name in names:
            count = rows(self.conn, f"SELECT count(*) FROM {q(self.schema)}.{q(name)}")[0][0]
            found.append(
                TargetTable(
                    schema=named,
                    name=name,
                    kind="table",
                    columns=columns[name],
                    rows=int(count),
                )
            )
        return found, []

    def _source_schema(self) -> str:
        """Tables are named as the source (and the rules) name them: the schema
        the copy's manifest says it came from, so each masked column of the
        source is found by its name here too."""
        try:
            found = rows(
                self.conn,
                f"SELECT manifest FROM {q(self.schema)}.{q(MANIFEST)} ORDER BY id DESC LIMIT 1",
            )
            source = json.loads(text(found[0][0])).get("source", {}) if found else {}
        except (pymysql.err.MySQLError, ValueError):
            return self.schema
        database = source.get("database") if isinstance(source, dict) else None
        return database if isinstance(database, str) and database else self.schema

    def blocks(self, table: TargetTable, size: int) -> Iterator[bytes]:
        if not table.columns:
            return
        values = ", ".join(
            f"REPLACE(REPLACE(COALESCE(CAST({q(c)} AS CHAR), ''), CHAR(9), ' '), CHAR(10), ' ')"
            for c in table.columns
        )
        query = f"SELECT CONCAT_WS(CHAR(9), {values}) FROM {q(self.schema)}.{q(table.name)}"
        parts: list[bytes] = []
        length = 0
        with self.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(query)
            while batch := cur.fetchmany(5000):
                for (row,) in batch:
                    data = row.encode() if isinstance(row, str) else bytes(row)
                    parts.append(data)
                    length += len(data) + 1
                if length >= size:
                    yield b"\n".join(parts) + b"\n"
                    parts, length = [], 0
        if parts:
            yield b"\n".join(parts) + b"\n"


def open_source(url: str) -> contextlib.closing[MySampler]:
    return contextlib.closing(MySampler(MySource(url)))


def open_target(url: str) -> contextlib.closing[MyTargetReader]:
    return contextlib.closing(MyTargetReader(url))
