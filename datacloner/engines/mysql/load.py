"""Rows into the new copy: one target session per writer, under the
source's ``sql_mode`` (plus NO_AUTO_VALUE_ON_ZERO: a 0 key stays 0), with
foreign-key and unique checks off. ``LOAD DATA LOCAL INFILE`` where the
server allows it (no SQL to parse per row), else batched multi-row INSERTs."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
from pymysql.converters import escape_string

from datacloner.core.errors import Refused
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance
from datacloner.engines.mysql.connection import (
    Params,
    connect,
    error_text,
    q,
    rows,
    run,
    scalar,
    text,
)
from datacloner.engines.mysql.keys import Deferred
from datacloner.masking.table_masker import TableMasker, encode_each

STATEMENT_BYTES = 4 << 20  # one INSERT stays well under max_allowed_packet (16 MiB default)
# types LOAD DATA would read as text rather than as the bytes we hand it
_NOT_LOADABLE = re.compile(
    r"^(bit|geometry|point|linestring|polygon|multi\w+|geometrycollection)\b", re.I
)
_BINARY = re.compile(r"blob|binary", re.I)  # bytes that CONVERT(... USING utf8mb4) would change


def _field(value: Any) -> bytes:
    """One field of LOAD DATA's default format: tab-separated, \\N for NULL."""
    if value is None:
        return b"\\N"
    if isinstance(value, bytes):
        return value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
    if not isinstance(value, str):
        value = str(_my_value(value))
    return _escaped_text(value).encode()


def _escaped_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _tsv(batch: list[list[Any]]) -> bytes:
    """A batch in LOAD DATA's default format. Values arrive as text (the driver
    decodes nothing; masked ones are encoded by ``_MY_VALUES``), and few hold a
    backslash, tab or newline: a row is joined as it is and escaped field by
    field only when the joined line shows one (the per-field path cost ~40% of
    a masked load's client CPU)."""
    lines: list[str] = []
    for row in batch:
        try:
            line = "\t".join(["\\N" if v is None else v for v in row])
        except TypeError:  # bytes (a binary column) or a value not yet text
            return b"".join(b"\t".join(map(_field, r)) + b"\n" for r in batch)
        # each NULL's \N brings one backslash: any other needs escaping
        if line.count("\\") != row.count(None) or "\n" in line or line.count("\t") >= len(row):
            line = "\t".join("\\N" if v is None else _escaped_text(v) for v in row)
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode()


def _my_value(value: Any) -> Any:
    """A masked value as MySQL reads it from text."""
    if value is None or isinstance(value, str | bytes):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


_MY_VALUES = encode_each(_my_value)


def _masked(pages: Iterator[list[list[Any]]], masker: TableMasker) -> Iterator[list[list[Any]]]:
    for batch in pages:
        if masker.active:
            masker.apply(batch, lambda _column: (None, _MY_VALUES))
        yield batch


def prefetch(pages: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``pages`` produced by a thread, ``depth`` ahead: the source's read (and
    the masking) of one page overlaps the server's load of the one before."""
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        ready.put(("page", page), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(("end", None))
        except BaseException as exc:
            ready.put(("error", exc))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            kind, item = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class Loader:
    def __init__(
        self,
        params: Params,
        schema: str,
        sql_mode: str,
        folder: str,
        deferred: Deferred,
    ) -> None:
        self.name = schema
        self.deferred = deferred  # the keys this session adds after a table's rows
        self.conn = connect(params, "target")
        mode = ",".join(sorted({m for m in sql_mode.split(",") if m} | {"NO_AUTO_VALUE_ON_ZERO"}))
        try:
            run(self.conn, "SET SESSION sql_mode = %s", (mode,))
            run(self.conn, "SET SESSION foreign_key_checks = 0, unique_checks = 0")
            run(self.conn, f"USE {q(schema)}")
            self.local_infile = text(scalar(self.conn, "SELECT @@GLOBAL.local_infile")) in (
                "1",
                "ON",
            )
        except BaseException:
            self.conn.close()
            raise
        self.no_backslash = "NO_BACKSLASH_ESCAPES" in mode
        # one file per writer, in the run's private (0700) folder
        self.path = os.path.join(folder, f"batch-{uuid.uuid4().hex[:8]}.tsv")

    def close_session(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def _escape(self, value: str) -> str:
        if self.no_backslash:
            return "'" + value.replace("'", "''") + "'"
        return "'" + escape_string(value) + "'"

    def copy_from(
        self,
        source: Any,
        plan: TablePlan,
        masker: TableMasker,
        batch_size: int,
        advance: Advance,
    ) -> int:
        """Stream one table from ``source`` (a snapshot session) through
        ``masker`` into the new copy, in one transaction, then add its keys;
        rows copied."""
        copied = self._copy(source, plan, masker, batch_size, advance)
        self.deferred.add_keys(self.conn, plan.table.name)
        return copied

    def _copy(
        self,
        source: Any,
        plan: TablePlan,
        masker: TableMasker,
        batch_size: int,
        advance: Advance,
    ) -> int:
        head = (
            f"INSERT INTO {q(self.name)}.{q(plan.table.name)} ("
            + ", ".join(q(c.name) for c in plan.columns)
            + ") VALUES "
        )
        escape = self._escape
        loaded = 0
        load = self.local_infile and not any(_NOT_LOADABLE.match(c.type) for c in plan.columns)
        if load and not masker.active and not any(_BINARY.search(c.type) for c in plan.columns):
            return self._copy_lines(source, plan, batch_size, advance)
        try:
            run(self.conn, "START TRANSACTION")
            for batch in prefetch(_masked(source.rows(plan, batch_size, masker.unless), masker)):
                if load:
                    self._load_data(plan, batch)
                    loaded += len(batch)
                    advance(len(batch))
                    continue
                parts: list[str] = []
                size = 0
                for row in batch:
                    values = []
                    for v in row:
                        if v is None:
                            values.append("NULL")
                        elif isinstance(v, str):
                            values.append(escape(v))
                        elif isinstance(v, bytes):
                            values.append("X'" + v.hex() + "'" if v else "''")
                        else:
                            values.append(escape(str(_my_value(v))))
                    part = "(" + ",".join(values) + ")"
                    parts.append(part)
                    size += len(part)
                    if size >= STATEMENT_BYTES:
                        run(self.conn, head + ",".join(parts))
                        parts, size = [], 0
                if parts:
                    run(self.conn, head + ",".join(parts))
                loaded += len(batch)
                advance(len(batch))
            run(self.conn, "COMMIT")
        except pymysql.err.MySQLError as exc:
            columns = [c.name for c in plan.columns]
            raise Refused(
                f"loading {plan.name} into the new copy failed after {loaded} rows: "
                f"{error_text(exc, columns)}",
                hint="the target was not changed; a masked value may not fit a "
                "constraint: adjust that column's rule",
            ) from None
        return loaded

    def _copy_lines(self, source: Any, plan: TablePlan, batch_size: int, advance: Advance) -> int:
        """Nothing to mask and no binary column: the source escapes each row
        into one line (MySource.lines), loaded as it comes."""
        loaded = 0
        try:
            run(self.conn, "START TRANSACTION")
            for lines in prefetch(source.lines(plan, batch_size)):
                self._load_file(plan, ("\n".join(lines) + "\n").encode(), len(lines))
                loaded += len(lines)
                advance(len(lines))
            run(self.conn, "COMMIT")
        except pymysql.err.MySQLError as exc:
            raise Refused(
                f"loading {plan.name} into the new copy failed after {loaded} rows: "
                f"{error_text(exc, [c.name for c in plan.columns])}",
                hint="the target was not changed; retry, or check the target's health",
            ) from None
        return loaded

    def _load_data(self, plan: TablePlan, batch: list[list[Any]]) -> None:
        self._load_file(plan, _tsv(batch), len(batch))

    def _load_file(self, plan: TablePlan, data: bytes, count: int) -> None:
        """One batch through LOAD DATA LOCAL INFILE. LOCAL turns errors into
        warnings (a truncated value, a duplicate key skipped): any warning
        fails the load."""
        path = self.path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        columns = ", ".join(q(c.name) for c in plan.columns)
        with self.conn.cursor() as cur:
            cur.execute(
                f"LOAD DATA LOCAL INFILE '{escape_string(path)}' INTO TABLE "
                f"{q(self.name)}.{q(plan.table.name)} CHARACTER SET utf8mb4 ({columns})"
            )
            # the OK packet counts warnings: asked for only when there are some
            warned = cur.warning_count
            warnings = rows(self.conn, "SHOW WARNINGS LIMIT 1") if warned else []
        if warned or cur.rowcount != count:
            code = f" (MySQL warning {int(warnings[0][1])})" if warnings else ""
            lost = count - max(cur.rowcount, 0)
            raise Refused(
                f"loading {plan.name} into the new copy failed: {lost} of a batch of "
                f"{count} rows were refused or changed by the server{code}",
                hint="the target was not changed; a masked value may not fit its column or a "
                "unique key: adjust that column's rule",
            )
