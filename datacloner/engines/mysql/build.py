"""The new copy of a MySQL/MariaDB target: the schema ``<target>__dc_new``
beside it, tables as ``SHOW CREATE TABLE`` gives them, rows in batched
multi-row INSERTs under the source's ``sql_mode`` (zero dates survive), then
views, routines, triggers and events (triggers after the data, so none fires
during the load), checked (row counts, every foreign key by anti-join), and
swapped in by ``swap.MyGenerations``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pymysql
from pymysql.converters import escape_string

from datacloner.core.catalog import QualifiedName
from datacloner.core.errors import Refused, UsageError
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance, OneTableAtATime, Section, SwapPolicy
from datacloner.engines.mysql.connection import (
    connect,
    error_text,
    params_of,
    q,
    refused_on_error,
    rows,
    run,
    scalar,
    text,
)
from datacloner.engines.mysql.source import (
    MySource,
    count_orphans,
    foreign_keys,
)
from datacloner.engines.mysql.swap import MANIFEST, MyGenerations
from datacloner.masking.table_masker import TableMasker, encode_each

STATEMENT_BYTES = 4 << 20  # one INSERT stays well under max_allowed_packet (16 MiB default)
# types LOAD DATA would read as text rather than as the bytes we hand it
_NOT_LOADABLE = re.compile(
    r"^(bit|geometry|point|linestring|polygon|multi\w+|geometrycollection)\b", re.I
)
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n"})


def _field(value: Any) -> bytes:
    """One field of LOAD DATA's default format: tab-separated, \\N for NULL."""
    if value is None:
        return b"\\N"
    if isinstance(value, bytes):
        return value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
    if not isinstance(value, str):
        value = str(_my_value(value))
    return value.translate(_TEXT_ESCAPES).encode()


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


class MyTargetBuild(OneTableAtATime):
    def __init__(self, url: str, source: MySource, policy: SwapPolicy) -> None:
        self.source = source
        self.policy = policy
        self.params = params_of(url)
        self.admin = connect(self.params, "target")
        try:
            self.generations = MyGenerations(self.admin, self.params.database, policy.keep)
            self.generations.lock()
        except BaseException:
            self.admin.close()
            raise
        self.target = self.params.database
        self.name = self.generations.new
        self.conn: pymysql.connections.Connection | None = None
        self._created = False
        self._swapped = False
        self.warnings: list[str] = []
        self._objects = source.objects()

    # -- lifecycle ---------------------------------------------------------------------
    def create(self) -> None:
        g = self.generations
        g.drop_ours(self.name)  # a killed run's leftover, only if ours
        for name in (g.old, g.tmp):
            if g.exists(name) and not g.ours(name):
                raise g._not_ours(name)
        with refused_on_error(
            f"cannot create the new copy {self.name}",
            hint="datacloner builds the new copy as a schema beside the target: grant the "
            "target's user CREATE, DROP, ALTER, INDEX, INSERT, SELECT, CREATE VIEW, TRIGGER, "
            "CREATE ROUTINE, EVENT on `<target>%`.*",
        ):
            g.create(self.name, self.source.charset())
        self._created = True
        self.conn = connect(self.params, "target")
        mode = ",".join(
            sorted({m for m in self.source.sql_mode.split(",") if m} | {"NO_AUTO_VALUE_ON_ZERO"})
        )
        run(self.conn, "SET SESSION sql_mode = %s", (mode,))
        self.no_backslash = "NO_BACKSLASH_ESCAPES" in mode
        run(self.conn, "SET SESSION foreign_key_checks = 0, unique_checks = 0")
        run(self.conn, f"USE {q(self.name)}")
        # LOAD DATA LOCAL INFILE where the server allows it: no SQL to parse per row
        self.local_infile = text(scalar(self.conn, "SELECT @@GLOBAL.local_infile")) in ("1", "ON")
        self.folder = tempfile.mkdtemp(prefix="datacloner-my-")  # 0700: batches of rows

    def discard(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
        if self._created and not self._swapped:
            with contextlib.suppress(Exception):
                self.generations.drop_ours(self.name)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        folder = getattr(self, "folder", None)
        if folder:
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)
        with contextlib.suppress(Exception):
            self.admin.close()

    # -- steps -------------------------------------------------------------------------
    def load_schema(self, section: Section) -> None:
        assert self.conn is not None
        if section == "pre-data":
            for table in self.source.catalog().load_order():
                statement = self.source.create_table(table.name)
                with refused_on_error(
                    f"creating {table.name} in the new copy failed",
                    hint="the target was not changed; the target server may lack a feature "
                    "or storage engine the source uses",
                ):
                    run(self.conn, statement)
            return
        objects = []
        for obj in self._objects:
            if obj.definer and obj.definer != self._current_user():
                self.warnings.append(
                    f"{obj.kind} {obj.name}: DEFINER {obj.definer} is rewritten to the target's "
                    "user"
                )
            objects.append(obj)
        with refused_on_error(
            f"creating views, routines, triggers or events in {self.name} failed",
            hint="the target was not changed; check the object's privileges on the target",
        ):
            self.generations.record_objects(self.name, objects)
            self.generations.create_objects(
                self.name, objects, ("view", "routine", "trigger", "event")
            )
        run(self.conn, f"USE {q(self.name)}")

    def _current_user(self) -> str:
        assert self.conn is not None
        return text(scalar(self.conn, "SELECT CURRENT_USER()"))

    def _escape(self, value: str) -> str:
        if self.no_backslash:
            return "'" + value.replace("'", "''") + "'"
        return "'" + escape_string(value) + "'"

    def copy_table(
        self, plan: TablePlan, masker: TableMasker, batch_size: int, advance: Advance
    ) -> int:
        assert self.conn is not None
        head = (
            f"INSERT INTO {q(self.name)}.{q(plan.table.name)} ("
            + ", ".join(q(c.name) for c in plan.columns)
            + ") VALUES "
        )
        escape = self._escape
        loaded = 0
        load = self.local_infile and not any(_NOT_LOADABLE.match(c.type) for c in plan.columns)
        try:
            run(self.conn, "START TRANSACTION")
            for batch in self.source.rows(plan, batch_size, masker.unless):
                if masker.active:
                    masker.apply(batch, lambda _column: (None, _MY_VALUES))
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

    def _load_data(self, plan: TablePlan, batch: list[list[Any]]) -> None:
        """One batch through LOAD DATA LOCAL INFILE. LOCAL turns errors into
        warnings (a truncated value, a duplicate key skipped): any warning
        fails the load."""
        assert self.conn is not None
        path = os.path.join(self.folder, "batch.tsv")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(b"".join(b"\t".join(map(_field, row)) + b"\n" for row in batch))
        columns = ", ".join(q(c.name) for c in plan.columns)
        with self.conn.cursor() as cur:
            cur.execute(
                f"LOAD DATA LOCAL INFILE '{escape_string(path)}' INTO TABLE "
                f"{q(self.name)}.{q(plan.table.name)} CHARACTER SET utf8mb4 ({columns})"
            )
            warnings = rows(self.conn, "SHOW WARNINGS LIMIT 1")
        if warnings or cur.rowcount != len(batch):
            code = f" (MySQL warning {int(warnings[0][1])})" if warnings else ""
            lost = len(batch) - max(cur.rowcount, 0)
            raise Refused(
                f"loading {plan.name} into the new copy failed: {lost} of a batch of "
                f"{len(batch)} rows were refused or changed by the server{code}",
                hint="the target was not changed; a masked value may not fit its column or a "
                "unique key: adjust that column's rule",
            )

    def finalize(self) -> None:
        """AUTO_INCREMENT positions are in each CREATE TABLE; nothing else to do."""

    def health_check(self, loaded: dict[QualifiedName, int]) -> None:
        assert self.conn is not None
        for (_schema, name), expected in loaded.items():
            count = scalar(self.conn, f"SELECT count(*) FROM {q(self.name)}.{q(name)}")
            if int(count or 0) != expected:
                raise Refused(
                    f"health check: {name} has {int(count or 0)} rows in the new copy, "
                    f"{expected} were loaded; the target was not changed"
                )
        broken = []
        for fk in foreign_keys(self.conn, self.name):
            found = count_orphans(self.conn, self.name, fk)
            if found and found > self.source.orphans(self.source.schema, fk):
                broken.append(f"{fk.table}.{fk.name} ({found} rows)")
        if broken:
            raise Refused(
                "health check: foreign keys broken in the new copy: " + ", ".join(broken),
                hint="the target was not changed; a masked key column no longer matches its "
                "parent: keep both sides or mask them with the same deterministic rule",
            )

    def run_hooks(self, scripts: tuple[Path, ...]) -> None:
        for script in scripts:
            if not script.is_file():
                raise UsageError(f"the after: hook {script} does not exist")
            conn = connect(self.params, "target", multi=True)
            try:
                run(conn, f"USE {q(self.name)}")
                with conn.cursor() as cur:
                    cur.execute(script.read_text())
                    while cur.nextset():
                        pass
            except pymysql.err.MySQLError as exc:
                raise Refused(
                    f"the after: hook {script} failed in the new copy: {error_text(exc)}",
                    hint="the target was not changed; fix the script and refresh again",
                ) from None
            finally:
                conn.close()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        assert self.conn is not None
        table = f"{q(self.name)}.{q(MANIFEST)}"
        run(
            self.conn,
            f"CREATE TABLE IF NOT EXISTS {table} (id INT AUTO_INCREMENT PRIMARY KEY, "
            "finished_at VARCHAR(40), manifest LONGTEXT NOT NULL) ENGINE=InnoDB "
            "DEFAULT CHARSET=utf8mb4",
        )
        run(
            self.conn,
            f"INSERT INTO {table} (finished_at, manifest) VALUES (%s, %s)",
            (manifest.get("finished_at"), json.dumps(manifest)),
        )

    def swap(self) -> list[str]:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        warnings = self.source.warnings + self.warnings
        try:
            warnings += self.generations.swap_in(self.policy)
        except pymysql.err.MySQLError as exc:
            raise Refused(
                f"the swap of {self.target} failed: {error_text(exc)}",
                hint="the target serves its previous copy",
            ) from None
        self._swapped = True
        return warnings


def count_rows(conn: pymysql.connections.Connection, schema: str, table: str) -> int:
    return int(rows(conn, f"SELECT count(*) FROM {q(schema)}.{q(table)}")[0][0])
