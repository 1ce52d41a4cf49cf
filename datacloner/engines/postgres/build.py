"""The new copy of a PostgreSQL target: ``<db>__dc_new`` created, loaded
(pg_dump sections, COPY, ``--jobs`` workers), checked, then swapped in."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from datacloner.core import urls
from datacloner.core.catalog import QualifiedName
from datacloner.core.errors import Refused, UsageError
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance, Section, SwapPolicy
from datacloner.engines.postgres import conninfo
from datacloner.engines.postgres.connection import (
    cluster_id,
    conn_params,
    connect,
    connect_new_copy,
    maintenance_params,
)
from datacloner.engines.postgres.manifest import write_manifest
from datacloner.engines.postgres.pool import run_each
from datacloner.engines.postgres.postdata import run_post_data
from datacloner.engines.postgres.rows import copy_into, relation
from datacloner.engines.postgres.source import PgSource
from datacloner.engines.postgres.swap import PgGenerations
from datacloner.engines.postgres.tools import (
    ClientTools,
    find_tools,
    restore_sql,
    run_sql_file,
)
from datacloner.masking.table_masker import (
    TableMasker,
)

log = logging.getLogger(__name__)

# tables (sequences) per health-check (setval) statement: one round trip per
# chunk, while a statement stays small for a schema of thousands of tables
_CHUNK = 500
_COUNT_ALONE = 100_000  # rows from which a table is counted by a query of its own

# what a database-wide ANALYZE analyzes, each partition tree once (its root
# recurses into the partitions), the biggest first: their --jobs order
_ANALYZED = (
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'm', 'p') AND NOT c.relispartition AND NOT c.relisshared "
    "AND c.relpersistence <> 't' "
    "ORDER BY CASE WHEN c.relkind = 'p' THEN (SELECT sum(pg_catalog.pg_table_size(t.relid)) "
    "FROM pg_catalog.pg_partition_tree(c.oid) t) ELSE pg_catalog.pg_table_size(c.oid) END "
    "DESC NULLS LAST, 1, 2"
)


class PgTargetBuild:
    parallel_copy = True  # copy_tables: --jobs worker processes

    def __init__(self, url: str, source: PgSource | None, policy: SwapPolicy) -> None:
        params = conn_params(url)
        params.pop("maintenance_db", None)
        self.source = source
        self.params = params
        self.policy = policy
        self.target = params.get("dbname") or ""
        if not self.target:
            raise UsageError(f"the target URL names no database: {urls.redact(url)}")
        admin_params = maintenance_params(conn_params(url))
        self.admin = connect(admin_params, "target server's maintenance")
        # every later connection and psql child reaches this very server
        admin_params = conninfo.pin(admin_params, self.admin, cluster_id(self.admin))
        self.params = {**conninfo.libpq_only(admin_params), "dbname": self.target}
        self.params[conninfo.SERVER] = admin_params[conninfo.SERVER]
        self.generations = PgGenerations(
            self.admin,
            self.target,
            policy.keep,
            lambda: connect(admin_params, "target server's maintenance"),
        )
        self.generations.lock()
        self.warnings: list[str] = []
        self.name = self.generations.new
        self._created = False
        self.conn: psycopg.Connection | None = None
        self._tools: ClientTools | None = None
        self.jobs = 1  # set by copy_tables: post-data uses as many connections
        self._workers: list[Any] = []  # started ahead by start_workers, for copy_tables

    # -- lifecycle -------------------------------------------------------------
    def create(self) -> None:
        # leftovers of a killed run, dropped only if ours; and before a long
        # build, the previous copies the swap will rename must be ours too
        self.generations.clear_leftovers(self.name, self.generations.old)
        self.generations.check_rotation(self.policy.keep)
        encoding, collate, ctype = self.source.database_settings()
        new = sql.Identifier(self.name)
        try:
            try:
                self.admin.execute(
                    sql.SQL(
                        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} "
                        "LC_CTYPE {}"
                    ).format(new, sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype))
                )
            except (
                psycopg.errors.InvalidParameterValue,
                psycopg.errors.ObjectNotInPrerequisiteState,
            ):
                # the target server lacks the source's locale: keep the encoding only
                self.admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {}").format(
                        new, sql.Literal(encoding)
                    )
                )
        except psycopg.errors.InsufficientPrivilege:
            raise Refused(
                f"user {self.params.get('user', '(default)')!r} may not create databases on the "
                "target server",
                hint="datacloner builds the new copy beside the target; grant CREATEDB "
                "(ALTER ROLE ... CREATEDB) to the target's user",
            ) from None
        self._created = True
        self.generations.mark(self.name)  # proof for a later run that may drop it
        self.conn = connect_new_copy({**self.params, "dbname": self.name}, autocommit=False)

    def discard(self) -> None:
        self._stop_workers()
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
        if self._created and not self.generations.swapped:  # made by this run
            with contextlib.suppress(psycopg.Error):
                self.generations.drop(self.name)

    def close(self) -> None:
        self._stop_workers()  # started but never used: a failure before the rows
        if self.conn is not None:
            self.conn.close()
        self.admin.close()

    # -- steps -----------------------------------------------------------------
    def load_schema(self, section: Section) -> None:
        assert self.conn is not None
        self.conn.commit()
        target = {**self.params, "dbname": self.name}
        script = self.source.schema_sql(section)
        # an archive being restored has no catalog to look names up in
        columns_of = getattr(self.source, "constraint_columns", None)
        if section == "post-data" and self.jobs > 1:
            # index and constraint builds over as many connections as the
            # copy had workers (postdata.py); one job: psql, one transaction
            run_post_data(script, target, self.jobs, columns_of)
        else:
            restore_sql(self.tools, section, script, target, columns_of)

    @property
    def tools(self) -> ClientTools:
        """psql for the target's server (any recent psql would do)."""
        if self._tools is None:
            self._tools = find_tools(self.admin.info.server_version // 10000)
        return self._tools

    def copy_table(
        self, plan: TablePlan, masker: TableMasker, batch_size: int, advance: Advance
    ) -> int:
        assert self.conn is not None
        return copy_into(self.conn, self.source, plan, masker, batch_size, advance)

    def copy_tables(
        self,
        tables: list[TablePlan],
        secret: bytes,
        batch_size: int,
        advance: Advance,
        jobs: int,
        split_rows: int | None = None,
    ) -> dict[QualifiedName, int]:
        """Tables (and key ranges of big ones) in ``jobs`` worker processes,
        all reading the one exported snapshot (``split_rows``: see parallel.py)."""
        from datacloner.engines.postgres.parallel import copy_parallel

        assert self.conn is not None
        self.conn.commit()
        self.jobs = jobs
        started, self._workers = self._workers, []
        return copy_parallel(
            self.source,
            {**self.params, "dbname": self.name},
            tables,
            secret,
            batch_size,
            advance,
            jobs,
            split_rows,
            started,
        )

    def start_workers(self, jobs: int) -> None:
        from datacloner.engines.postgres.parallel import spawn

        if not self._workers:
            self._workers = spawn(jobs)

    def _stop_workers(self) -> None:
        from datacloner.engines.postgres.parallel import stop

        workers, self._workers = self._workers, []
        stop(workers)

    def finalize(self) -> None:
        assert self.conn is not None
        # one statement per chunk of sequences, not one round trip each
        sequences = list(self.source.sequences())
        for start in range(0, len(sequences), _CHUNK):
            chunk = sequences[start : start + _CHUNK]
            params: list[Any] = []
            for schema, name, last_value, is_called in chunk:
                params += [sql.Identifier(schema, name).as_string(self.conn), last_value, is_called]
            setval = sql.SQL("pg_catalog.setval(%s::regclass, %s, %s)")
            self.conn.execute(
                sql.SQL("SELECT ") + sql.SQL(", ").join([setval] * len(chunk)), params
            )
        populated = self.source.populated_matviews()
        for schema, name in self._matviews_in_order():
            if (schema, name) in populated:
                # built from the masked rows, never copied: no source value survives
                self.conn.execute(
                    sql.SQL("REFRESH MATERIALIZED VIEW {}").format(relation(schema, name))
                )
        self.conn.commit()
        self.conn.autocommit = True
        try:
            if self.jobs > 1:  # table by table over as many connections as the copy had
                queries = [
                    sql.SQL("ANALYZE {}").format(relation(schema, name))
                    for schema, name in self.conn.execute(_ANALYZED).fetchall()
                ]
                run_each(self.conn, self._another, queries, self.jobs)
            else:
                self.conn.execute("ANALYZE")
        finally:
            self.conn.autocommit = False

    def _another(self) -> psycopg.Connection:
        """One more connection to the new copy (``run_each`` closes it)."""
        return connect_new_copy({**self.params, "dbname": self.name})

    def _matviews_in_order(self) -> list[QualifiedName]:
        assert self.conn is not None
        views = self.conn.execute(
            "SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'm' ORDER BY c.oid"
        ).fetchall()
        deps: dict[int, set[int]] = {oid: set() for oid, _, _ in views}
        for view, ref in self.conn.execute(
            "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_rewrite r JOIN pg_depend d "
            "ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
            "JOIN pg_class rc ON rc.oid = d.refobjid AND rc.relkind = 'm' "
            "WHERE r.ev_class <> d.refobjid"
        ):
            if view in deps:
                deps[view].add(ref)
        names = {oid: (schema, name) for oid, schema, name in views}
        order: list[QualifiedName] = []
        done: set[int] = set()

        def visit(oid: int) -> None:
            if oid in done:
                return
            done.add(oid)
            for ref in sorted(deps[oid]):
                if ref in deps:
                    visit(ref)
            order.append(names[oid])

        for oid in deps:
            visit(oid)
        return order

    def run_hooks(self, scripts: tuple[Path, ...]) -> None:
        """The environment's ``after:`` SQL, run in the new copy before the swap."""
        assert self.conn is not None
        self.conn.commit()
        for script in scripts:
            run_sql_file(self.tools, script, {**self.params, "dbname": self.name})

    def health_check(self, loaded: dict[QualifiedName, int]) -> None:
        """Before the swap: every table holds the rows loaded into it, and every
        constraint the source validated is valid here too."""
        assert self.conn is not None
        # one UNION ALL query per chunk of small tables, not one round trip
        # each; a big table alone, so the --jobs connections share them out
        tables = sorted(loaded.items(), key=lambda item: -item[1])
        chunks: list[list[tuple[QualifiedName, int]]] = []
        for table in tables:
            if not chunks or table[1] >= _COUNT_ALONE or len(chunks[-1]) >= _CHUNK:
                chunks.append([])
            chunks[-1].append(table)
        queries = [
            sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {}, count(*) FROM ONLY {}").format(
                    sql.Literal(index), relation(schema, name)
                )
                for index, ((schema, name), _) in enumerate(chunk)
            )
            for chunk in chunks
        ]
        self.conn.commit()
        self.conn.autocommit = True
        try:
            found_counts = run_each(self.conn, self._another, queries, self.jobs)
        finally:
            self.conn.autocommit = False
        for chunk, found_rows in zip(chunks, found_counts, strict=True):
            counts = dict(found_rows)
            for index, ((schema, name), rows) in enumerate(chunk):
                found = counts.get(index, 0)
                if found != rows:
                    raise Refused(
                        f"health check: {schema}.{name} has {found} rows in the new "
                        f"copy, {rows} were loaded; the target was not changed",
                        hint="rows changed between the load and the post-data section: "
                        "a trigger or rule fired; the target was not changed",
                    )
        invalid = self.conn.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE NOT c.convalidated "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        if set(invalid) - self.source.not_valid_constraints():
            names = ", ".join(f"{t}.{c}" for t, c in invalid)
            raise Refused(f"health check: constraints not valid in the new copy: {names}")
        self.conn.commit()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        assert self.conn is not None
        write_manifest(self.conn, manifest)
        self.conn.commit()

    def swap(self) -> list[str]:
        """Rotate the generations in one short critical section."""
        assert self.conn is not None
        self.conn.close()
        self.conn = None
        return self.warnings + self.generations.swap_in(self.policy)
