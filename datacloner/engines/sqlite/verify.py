"""SQLite side of ``datacloner verify``: sample the masked columns of the source,
and stream every text value of a target file.

SQLite types are per value, not per column, so every column of the target is
searched and only its text values are read. The target is opened ``mode=ro`` in
one read transaction. Nothing here logs or raises with a value.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from urllib.parse import quote

from sqlalchemy.exc import DBAPIError

from datacloner.core import urls
from datacloner.core.catalog import Column, Table
from datacloner.core.errors import UsageError
from datacloner.engines.base import TargetTable, sample_error
from datacloner.engines.sqlite.engine import SCHEMA, SqliteSource

# Declared types whose values are never looked for in text: dates, flags, floats, blobs.
_NOT_SAMPLED = ("DATE", "TIME", "BOOL", "REAL", "FLOA", "DOUB", "BLOB")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_glob(path: tuple[str, ...]) -> str:
    """``items.*.phone`` as a GLOB over json_tree's fullkey (``$.items[0].phone``);
    GLOB's own special characters in a key are matched as themselves."""

    def key(part: str) -> str:
        if part == "*":
            return "*"
        return "." + "".join(f"[{c}]" if c in "*?[" else c for c in part)

    return "$" + "".join(key(p) for p in path)


class SqliteSampler:
    def __init__(self, source: SqliteSource) -> None:
        self.source = source
        self.conn = source.conn

    def close(self) -> None:
        self.source.close()

    def root(self, table: Table) -> tuple[str, str]:
        return table.schema, table.name  # SQLite has no partitions

    def sample(
        self,
        table: Table,
        column: Column,
        limit: int,
        unless: str | None,
        paths: list[tuple[str, ...]] | None,
    ) -> list[str] | None:
        declared = (column.type or "").upper()
        if any(word in declared for word in _NOT_SAMPLED):
            return None
        col, rel = _quote(column.name), _quote(table.name)
        keep = f" AND ({unless}) IS NOT TRUE" if unless else ""  # unmasked by design
        params: list[object] = []
        if paths or "JSON" in declared:
            # the rows first (`unless` names the table's columns), then their documents:
            # json_tree's own columns (id, key, value, type...) would clash with them
            documents = (
                f"(SELECT {col} AS dc_doc FROM {rel} WHERE json_valid({col}){keep}) AS dc_src"
            )
            globs = []
            for path in paths or []:
                # only what a json rule rewrites (and what lies under it)
                pattern = _json_glob(path)
                globs.append("j.fullkey GLOB ? OR j.fullkey GLOB ?")
                params += [pattern, pattern + "[.[]*"]
            inner = (
                f"SELECT CAST(j.value AS TEXT) AS v FROM {documents}, json_tree(dc_src.dc_doc) "
                "AS j WHERE j.type IN ('text', 'integer')"
                + (f" AND ({' OR '.join(globs)})" if globs else "")
            )
        else:
            inner = (
                f"SELECT CAST({col} AS TEXT) AS v FROM {rel} WHERE {col} IS NOT NULL "
                f"AND typeof({col}) IN ('text', 'integer'){keep}"
            )
        query = (
            f"SELECT v FROM (SELECT DISTINCT v FROM ({inner}) WHERE v IS NOT NULL AND v <> '') "
            "ORDER BY random() LIMIT ?"
        )
        try:
            rows = self.conn.exec_driver_sql(query, (*params, limit)).all()
        except DBAPIError as exc:
            raise sample_error(table, column, exc) from None
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
        declared = (column.type or "").upper()
        key = list(table.primary_key)
        if not key or any(word in declared for word in _NOT_SAMPLED):
            return None
        keep = f" AND ({unless}) IS NOT TRUE" if unless else ""
        values, params = _row_values(column.name, path, "JSON" in declared)
        query = (
            f"SELECT {_key_text(key)}, {values} FROM {_quote(table.name)} "
            f"WHERE {_quote(column.name)} IS NOT NULL{keep} ORDER BY random() LIMIT ?"
        )
        try:
            rows = self.conn.exec_driver_sql(query, (*params, limit)).all()
        except DBAPIError:
            return None  # the search still runs; `sample` reports what is wrong
        return key, [(r[0], json.loads(r[1])) for r in rows]


def _key_text(key: list[str]) -> str:
    """A row's primary key as JSON text, the same in source and target."""
    return "json_array(" + ", ".join(f"CAST({_quote(k)} AS TEXT)" for k in key) + ")"


def _row_values(column: str, path: tuple[str, ...] | None, is_json: bool) -> tuple[str, list[str]]:
    """A column's values as a JSON array of text, in order: the value, or the
    strings and numbers at a JSON path (and under it)."""
    col = _quote(column)
    if path is None and not is_json:
        return (
            f"json_array(CASE WHEN typeof({col}) IN ('text', 'integer') "
            f"THEN CAST({col} AS TEXT) END)",
            [],
        )
    params: list[str] = []
    where = ""
    if path is not None:
        pattern = _json_glob(path)
        where = " AND (j.fullkey GLOB ? OR j.fullkey GLOB ?)"
        params = [pattern, pattern + "[.[]*"]
    return (
        "(SELECT json_group_array(v) FROM (SELECT CAST(j.value AS TEXT) AS v FROM "
        f"json_tree(CASE WHEN json_valid({col}) THEN {col} ELSE '[]' END) AS j "
        f"WHERE j.type IN ('text', 'integer'){where} ORDER BY j.id))",
        params,
    )


class SqliteTargetReader:
    copy_text = False

    def __init__(self, url: str) -> None:
        self.path = urls.sqlite_path(url)
        if not self.path.is_file():
            raise UsageError(
                f"the target SQLite file does not exist: {self.path}",
                hint="refresh the environment first: datacloner refresh ENV",
            )
        self.conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True)
        self.conn.isolation_level = None
        self.conn.text_factory = bytes  # raw UTF-8: no decoding per value
        self.conn.execute("BEGIN")  # one snapshot for the whole search

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
        self.conn.close()

    def tables(self) -> tuple[list[TargetTable], list[str]]:
        names = [
            r[0].decode()
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
            )
        ]
        found = []
        for name in names:
            rel = _quote(name)
            columns = [
                r[1].decode() for r in self.conn.execute(f"PRAGMA table_info({rel})").fetchall()
            ]
            count = self.conn.execute(f"SELECT count(*) FROM {rel}").fetchone()
            found.append(
                TargetTable(
                    schema=SCHEMA,
                    name=name,
                    kind="table",
                    columns=columns,
                    rows=int(count[0]) if count else 0,
                )
            )
        return found, []

    def blocks(self, table: TargetTable, size: int) -> Iterator[bytes]:
        # Only text values; tabs and newlines inside one become spaces, so each row
        # arrives as one line of tab-separated values.
        values = " || char(9) || ".join(
            f"coalesce(replace(replace(CASE WHEN typeof({q}) = 'text' THEN {q} END, "
            f"char(9), ' '), char(10), ' '), '')"
            for q in (_quote(c) for c in table.columns)
        )
        cursor = self.conn.execute(f"SELECT {values} FROM {_quote(table.name)}")
        parts: list[bytes] = []
        length = 0
        while rows := cursor.fetchmany(5000):
            for (row,) in rows:
                parts.append(row)
                length += len(row) + 1
            if length >= size:
                yield b"\n".join(parts) + b"\n"
                parts, length = [], 0
        if parts:
            yield b"\n".join(parts) + b"\n"

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
        them)."""
        rel = _quote(table)
        try:
            info = self.conn.execute(f"PRAGMA table_info({rel})").fetchall()
            declared = {r[1].decode(): (r[2] or b"").decode().upper() for r in info}
            if column not in declared or any(k not in declared for k in key):
                return None
            values, params = _row_values(column, path, "JSON" in declared[column])
            found = self.conn.execute(
                f"SELECT {_key_text(key)}, {values} FROM {rel} "
                f"WHERE {_key_text(key)} IN (SELECT value FROM json_each(?))",
                (*params, json.dumps(keys)),
            ).fetchall()
        except sqlite3.Error:
            return None
        return {r[0].decode(): json.loads(r[1]) for r in found}


def open_source(url: str) -> contextlib.closing[SqliteSampler]:
    return contextlib.closing(SqliteSampler(SqliteSource(url)))


def open_target(url: str) -> contextlib.closing[SqliteTargetReader]:
    return contextlib.closing(SqliteTargetReader(url))
