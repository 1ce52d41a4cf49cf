"""The new copy of a MySQL/MariaDB target: the schema ``<target>__dc_new``
beside it, tables as ``SHOW CREATE TABLE`` gives them, rows in batched
multi-row INSERTs under the source's ``sql_mode`` (zero dates survive), then
views, routines, triggers and events (triggers after the data, so none fires
during the load), checked (row counts, every foreign key by anti-join), and
swapped in by ``swap.MyGenerations``."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pymysql

from datacloner.core.catalog import QualifiedName
from datacloner.core.errors import Refused, UsageError
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance, Section, SwapPolicy
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
from datacloner.engines.mysql.keys import Deferred, split_keys
from datacloner.engines.mysql.load import Loader
from datacloner.engines.mysql.parallel import copy_parallel, snapshot_sessions
from datacloner.engines.mysql.source import (
    MySource,
    count_orphans,
    foreign_keys,
)
from datacloner.engines.mysql.swap import MANIFEST, MyGenerations
from datacloner.masking.table_masker import TableMasker


class MyTargetBuild:
    parallel_copy = True  # copy_tables: --jobs readers on one snapshot (parallel.py)

    def __init__(self, url: str, source: MySource, policy: SwapPolicy) -> None:
        self.source = source
        self.policy = policy
        self.params = params_of(url)
        self.admin = connect(self.params, "target")
        try:
            self.generations = MyGenerations(self.admin, self.params.database, policy.keep)
            self.generations.lock()
            self.warnings: list[str] = self.generations.repair()
        except BaseException:
            self.admin.close()
            raise
        self.target = self.params.database
        self.name = self.generations.new
        self.conn: pymysql.connections.Connection | None = None
        self.loader: Loader | None = None
        self.folder = ""
        self.deferred = Deferred(self.name)  # keys added after the rows (keys.py)
        # per table copied: its columns copied as the source has them (neither
        # masked nor generated), for the health check
        self._verbatim: dict[str, set[str]] = {}
        self._created = False
        self._swapped = False
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
        self.folder = tempfile.mkdtemp(prefix="datacloner-my-")  # 0700: batches of rows
        self.loader = Loader(
            self.params, self.name, self.source.sql_mode, self.folder, self.deferred
        )
        self.conn = self.loader.conn

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
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(Exception):
            self.admin.close()

    # -- steps -------------------------------------------------------------------------
    def load_schema(self, section: Section) -> None:
        assert self.conn is not None
        if section == "pre-data":
            for table in self.source.catalog().load_order():
                statement, keys, foreign = split_keys(self.source.create_table(table.name))
                self.deferred.keys[table.name] = keys
                self.deferred.foreign[table.name] = foreign
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
            # events only in the target, after the swap: never scheduled in the new copy
            self.generations.create_objects(self.name, objects, ("view", "routine", "trigger"))
        run(self.conn, f"USE {q(self.name)}")

    def _current_user(self) -> str:
        assert self.conn is not None
        return text(scalar(self.conn, "SELECT CURRENT_USER()"))

    def copy_table(
        self, plan: TablePlan, masker: TableMasker, batch_size: int, advance: Advance
    ) -> int:
        assert self.loader is not None
        self._note_verbatim(plan)
        return self.loader.copy_from(self.source, plan, masker, batch_size, advance)

    def _note_verbatim(self, plan: TablePlan) -> None:
        self._verbatim[plan.table.name] = {c.name for c in plan.columns} - set(plan.masks)

    def copy_tables(
        self,
        tables: list[TablePlan],
        secret: bytes,
        batch_size: int,
        advance: Advance,
        jobs: int,
        split_rows: int | None = None,
    ) -> dict[QualifiedName, int]:
        """``--jobs``: readers on one snapshot (parallel.py), else one reader."""
        copied = [tp for tp in tables if not tp.skip]
        for tp in copied:
            self._note_verbatim(tp)
        readers, why = snapshot_sessions(self.source, min(jobs, max(len(copied), 1)))
        if not readers:
            self.warnings.append(f"--jobs {jobs}: {why}; the rows were read by one session")

        def writer() -> Loader:
            return Loader(self.params, self.name, self.source.sql_mode, self.folder, self.deferred)

        try:
            loaded = copy_parallel(
                copied, readers or [self.source], writer, secret, batch_size, advance
            )
        finally:
            for reader in readers:
                reader.close()
        return {**{tp.table.qualified: 0 for tp in tables}, **loaded}

    def start_workers(self, jobs: int) -> None:
        """Nothing to start ahead: the readers are threads, ready at once."""

    def finalize(self) -> None:
        """The keys no load added, and the foreign keys (AUTO_INCREMENT positions
        are in each CREATE TABLE)."""
        assert self.conn is not None
        self.deferred.add_rest(self.conn)

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
        every_row = self.source.selected is None  # not a subset
        for fk in foreign_keys(self.conn, self.name):
            if (
                every_row
                and self._same(fk.table, fk.columns)
                and self._same(fk.ref_table, fk.ref_columns)
            ):
                continue  # both sides as in the source: its orphans, none added (8M rows: ~30 s)
            found = count_orphans(self.conn, self.name, fk)
            if found and found > self.source.orphans(self.source.schema, fk):
                broken.append(f"{fk.table}.{fk.name} ({found} rows)")
        if broken:
            raise Refused(
                "health check: foreign keys broken in the new copy: " + ", ".join(broken),
                hint="the target was not changed; a masked key column no longer matches its "
                "parent: keep both sides or mask them with the same deterministic rule",
            )

    def _same(self, table: str, columns: tuple[str, ...]) -> bool:
        """Every row of ``table`` copied with ``columns`` unchanged."""
        return set(columns) <= self._verbatim.get(table, set())

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
