"""PostgreSQL engine: snapshot, schema via pg_dump sections, COPY out and in, swap.

The source is read in one read-only REPEATABLE READ transaction whose
snapshot is exported; pg_dump uses the same snapshot, so schema and rows are
one consistent picture. The target is built as ``<db>__dc_new`` on the
target's server and renamed into place only when everything succeeded.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from datacloner import guards, redaction, urls
from datacloner.catalog import Catalog, Column, QualifiedName, Table
from datacloner.engines import copytext, pg_conninfo
from datacloner.engines.base import Advance, EngineBase, Section, SwapPolicy
from datacloner.engines.pg_manifest import read_manifests, write_manifest
from datacloner.engines.pg_swap import SYSTEM_DATABASES, PgGenerations
from datacloner.engines.pg_tools import (
    ClientTools,
    dump_section,
    find_tools,
    psql_copy_out,
    restore_sql,
    run_sql_file,
)
from datacloner.errors import Refused, UsageError
from datacloner.plan import TablePlan
from datacloner.table_masker import (
    DecodeColumn,
    EncodeColumn,
    TableMasker,
    batch_gc,
    decode_each,
    encode_each,
)

log = logging.getLogger(__name__)

# schemas datacloner owns in a target; never copied from a source
OWN_SCHEMAS = ("datacloner",)

_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema') "


def conn_params(url: str) -> dict[str, str]:
    """The URL's libpq parameters as libpq resolves them (``PG*`` variables,
    service files): see pg_conninfo."""
    return pg_conninfo.resolve(url)


def connect(params: dict[str, str], what: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection from a parameter set; a pinned set (pg_conninfo.pin) must
    reach the server it was pinned to, or the connection is refused."""
    try:
        conn = psycopg.connect(**pg_conninfo.libpq_only(params), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        raise UsageError(
            f"cannot connect to the {what} database {params.get('dbname', '')!r} at {where}: "
            f"{str(exc).strip().splitlines()[-1]}",
            hint="check the URL in datacloner.yml and that the server is running",
        ) from None
    expected = params.get(pg_conninfo.SERVER)
    if expected:
        found = cluster_id(conn)
        if not autocommit:
            conn.rollback()
        if found != expected:
            conn.close()
            raise Refused(
                f"the {what} connection reached another server than the first connection did",
                hint="the host name may lead to several servers; name one server in the URL",
            )
    conn.execute("SET client_encoding = 'UTF8'")
    return conn


@dataclass(frozen=True)
class KeyRange:
    """``low <= column < high``: a slice of a big table for one parallel worker."""

    column: str
    low: int
    high: int


def cluster_id(conn: psycopg.Connection) -> str:
    """Which server this is, whatever the URL's spelling: the cluster's
    system_identifier, or (without the privilege to read it) the postmaster's
    start time with the port, which no other server shares."""
    in_tx = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    if in_tx:
        conn.execute("SAVEPOINT dc_ident")
    try:
        row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
        return f"sysid:{row[0]}" if row else ""
    except psycopg.errors.InsufficientPrivilege:
        if in_tx:
            conn.execute("ROLLBACK TO SAVEPOINT dc_ident")
        else:
            conn.rollback()
        row = conn.execute("SELECT " + pg_conninfo.STARTED_SQL).fetchone()
        return f"started:{row[0]}" if row else ""
    finally:
        if in_tx:
            conn.execute("RELEASE SAVEPOINT dc_ident")


def _rel(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def _columns(plan: TablePlan) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns)


def copy_into(
    conn: psycopg.Connection,
    source: Any,
    plan: TablePlan,
    masker: TableMasker,
    batch_size: int,
    advance: Advance,
    key_range: KeyRange | None = None,
) -> int:
    """Stream one table (or key range) from ``source`` through ``masker`` into
    ``conn`` with COPY, and commit; rows copied."""
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(
        _rel(plan.table.schema, plan.table.name), _columns(plan)
    )
    rows = 0

    def counted(n: int) -> None:
        nonlocal rows
        rows += n
        advance(n)

    try:
        with conn.cursor() as cur, cur.copy(into) as sink:
            for data in source.masked_copy(plan, masker, batch_size, counted, key_range):
                sink.write(data)
        conn.commit()
    except psycopg.Error as exc:
        raise load_failed(plan, exc, key_range) from None
    return rows


def load_failed(plan: TablePlan, exc: psycopg.Error, key_range: KeyRange | None = None) -> Refused:
    """A load error names the table, the row number and the column, never the
    value (redaction.database_error: DETAIL and CONTEXT quote the row)."""
    columns = [c.name for c in plan.columns]
    error = redaction.from_psycopg(exc, columns)
    row = ""
    if error.line is not None:
        row = f" at row {error.line}"
        if key_range is not None:  # rows are counted from the start of this worker's range
            row += f" of {key_range.column} >= {key_range.low}"
    return Refused(
        f"loading {plan.name} into the new copy failed{row}: {redaction.describe(error, columns)}",
        hint="the target was not changed; a masked value may not fit the column's type or "
        "a constraint: adjust that column's rule",
    )


def read_failed(plan: TablePlan, error: redaction.DbError, unless: str | None) -> Refused:
    """Reading a table failed: most often its ``unless:`` condition on one row
    (a cast of a value, a division); named without the row."""
    columns = [c.name for c in plan.columns]
    return Refused(
        f"reading {plan.name} from the source failed: {redaction.describe(error, columns)}",
        hint="the table's `unless:` condition fails on some row: make it hold for every row "
        "(e.g. guard a cast with CASE)"
        if unless
        else "the target was not changed; retry, or check the source's health",
    )


BLOCK = 1 << 18  # bytes of COPY data handed on at once


def copy_blocks(copy: psycopg.Copy, size: int = BLOCK) -> Iterator[bytes]:
    """libpq hands COPY data over one row at a time: gather rows into blocks
    (always ending at a row's end) so the rest of the pipeline runs per block."""
    buffer = bytearray()
    for chunk in copy:
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _mask_batch(batch: list[list[bytes]], masker: TableMasker) -> bytes:
    masker.apply(batch, _copy_codec)
    return copytext.join_rows(batch)


def _copy_codec(column: Column) -> tuple[DecodeColumn, EncodeColumn]:
    """COPY text <-> Python for one masked column, a batch's fields at once."""
    if column.is_array:
        return decode_each(copytext.decode_array), encode_each(copytext.encode_array)
    if column.type == "bytea":
        return decode_each(copytext.decode_bytea), copytext.encode_column
    return copytext.decode_column, copytext.encode_column


class PgSource:
    def __init__(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        snapshot: str | None = None,
        psql_reader: bool = True,
    ) -> None:
        """A new snapshot, or (for a parallel worker) the leader's ``snapshot``.

        ``psql_reader``: tables are read by a psql child process (in the same
        snapshot), which takes libpq's per-row work to the other core: 15% off
        a one-job refresh. ``--jobs`` workers read through psycopg instead:
        there the cores are busy already, and each psql would add to memory."""
        self.psql_reader = psql_reader
        self.params = params if params is not None else conn_params(url)
        self.conn = connect(self.params, "source")
        if pg_conninfo.SERVER not in self.params:  # psql, pg_dump and workers: this server
            self.params = pg_conninfo.pin(self.params, self.conn, cluster_id(self.conn))
        # belt and braces: the session and the transaction are both read-only
        self.conn.execute("SET default_transaction_read_only = on")
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot is None:
            self.snapshot: str = self._one("SELECT pg_export_snapshot()")
        else:
            self.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            self.snapshot = snapshot
        self.server_major = self.conn.info.server_version // 10000
        self._tools: ClientTools | None = None

    def _one(self, query: str, *args: Any) -> Any:
        row = self.conn.execute(query, args or None).fetchone()
        assert row is not None
        return row[0]

    @property
    def tools(self) -> ClientTools:
        if self._tools is None:
            self._tools = find_tools(self.server_major)
        return self._tools

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()
            self.conn.execute("ROLLBACK")
        self.conn.close()

    def identity(self) -> dict[str, str]:
        info = self.conn.info
        return {
            "engine": "postgresql",
            "host": info.host,
            "port": str(info.port),
            "database": info.dbname,
            "server_version": str(info.server_version),
            "snapshot": self.snapshot,
            "cluster": cluster_id(self.conn),
        }

    def database_settings(self) -> tuple[str, str, str]:
        row = self.conn.execute(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
            "WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    def read_catalog(self) -> Catalog:
        own = tuple(OWN_SCHEMAS)
        rels = self.conn.execute(
            "SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::bigint "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
            + _SYSTEM_SCHEMAS
            + "AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> ALL(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "  AND d.objid = c.oid AND d.deptype = 'e')",
            (list(own),),
        ).fetchall()
        oids = [r[0] for r in rels]
        by_oid: dict[int, Table] = {}
        for oid, schema, name, relkind, reltuples in rels:
            by_oid[oid] = Table(
                schema=schema,
                name=name,
                columns=[],
                partitioned=relkind == "p",
                row_estimate=max(int(reltuples), 0),
            )
        for relid, name, typ, notnull, generated, is_array, maxlen in self.conn.execute(
            "SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.attgenerated <> '', t.typcategory = 'A', "
            "CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 4 "
            "THEN a.atttypmod - 4 END "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attrelid, a.attnum",
            (oids,),
        ):
            by_oid[relid].columns.append(
                Column(
                    name=name,
                    type=typ,
                    nullable=not notnull,
                    generated=generated,
                    max_length=maxlen,
                    is_array=is_array,
                )
            )
        for relid, name in self.conn.execute(
            "SELECT i.indrelid, a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indisprimary AND i.indrelid = ANY(%s) ORDER BY i.indrelid, a.attnum",
            (oids,),
        ):
            by_oid[relid].primary_key.append(name)
        for child, parent in self.conn.execute(
            "SELECT i.inhrelid, i.inhparent FROM pg_inherits i JOIN pg_class c "
            "ON c.oid = i.inhrelid WHERE c.relispartition AND i.inhrelid = ANY(%s)",
            (oids,),
        ):
            if parent in by_oid:
                by_oid[child].parent = by_oid[parent].qualified
        for rel, ref in self.conn.execute(
            "SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = ANY(%s)",
            (oids,),
        ):
            if ref in by_oid:
                by_oid[rel].references.add(by_oid[ref].qualified)
        tables = {t.qualified: t for t in by_oid.values()}
        return Catalog(tables=tables, default_schema="public")

    @contextlib.contextmanager
    def copy_out(
        self, plan: TablePlan, unless: str | None = None, key_range: KeyRange | None = None
    ) -> Iterator[Iterator[bytes]]:
        rel = _rel(plan.table.schema, plan.table.name)
        if unless or key_range:
            # `unless` rows pass unmasked: the source evaluates it, as a trailing flag
            flag = sql.SQL("")
            if unless:
                flag = sql.SQL(", ({})::boolean").format(sql.SQL(unless))  # type: ignore[arg-type]
            where = sql.SQL("")
            if key_range:
                where = sql.SQL(" WHERE {key} >= {lo} AND {key} < {hi}").format(
                    key=sql.Identifier(key_range.column),
                    lo=sql.Literal(key_range.low),
                    hi=sql.Literal(key_range.high),
                )
            query = sql.SQL("COPY (SELECT {}{} FROM ONLY {}{}) TO STDOUT").format(
                _columns(plan), flag, rel, where
            )
        else:
            query = sql.SQL("COPY {} ({}) TO STDOUT").format(rel, _columns(plan))
        if not self.psql_reader:
            try:
                with self.conn.cursor() as cur, cur.copy(query) as copy:
                    yield copy_blocks(copy)
            except psycopg.Error as exc:
                raise read_failed(plan, redaction.from_psycopg(exc), unless) from None
            return
        # a psql child reads it (in this snapshot): libpq's per-row work leaves this process
        text = query.as_string(self.conn)
        with psql_copy_out(
            self.tools,
            self.params,
            self.snapshot,
            text,
            BLOCK,
            lambda error: read_failed(plan, error, unless),
        ) as blocks:
            yield blocks

    def key_ranges(self, plan: TablePlan, parts: int) -> list[KeyRange]:
        """Split a table with a single integer primary key into ``parts`` ranges."""
        key = plan.table.primary_key
        column = plan.table.column(key[0]) if len(key) == 1 else None
        if column is None or column.type not in ("integer", "bigint", "smallint") or parts < 2:
            return []
        row = self.conn.execute(
            sql.SQL("SELECT min({k}), max({k}) FROM ONLY {t}").format(
                k=sql.Identifier(column.name), t=_rel(plan.table.schema, plan.table.name)
            )
        ).fetchone()
        if row is None or row[0] is None:
            return []
        low, high = int(row[0]), int(row[1]) + 1
        step = max(1, -(-(high - low) // parts))
        return [
            KeyRange(column.name, start, min(start + step, high))
            for start in range(low, high, step)
        ]

    def check_condition(self, plan: TablePlan) -> None:
        """A table's ``unless`` must be valid SQL over its columns, before any row moves."""
        if not plan.unless:
            return
        # WHERE, not a cast: `unless: id` must be refused ("argument of WHERE must
        # be type boolean"), not read as "every row with a non-zero id"
        query = sql.SQL("SELECT FROM ONLY {} WHERE ({}) LIMIT 0").format(
            _rel(plan.table.schema, plan.table.name),
            sql.SQL(plan.unless),  # type: ignore[arg-type]
        )
        self.conn.execute("SAVEPOINT dc_unless")
        try:
            self.conn.execute(query)
        except psycopg.Error as exc:
            self.conn.execute("ROLLBACK TO SAVEPOINT dc_unless")
            # quoted parts of the condition itself may be shown; a row's may not
            words = re.findall(r"[^\s'\"(),]+", plan.unless)
            raise UsageError(
                f"`unless` of {plan.name} is not a valid condition: "
                f"{redaction.database_error(exc, [c.name for c in plan.columns] + words)}",
                hint="write a SQL boolean expression over the table's columns",
            ) from None
        self.conn.execute("RELEASE SAVEPOINT dc_unless")

    def constraint_columns(self, schema: str, name: str) -> list[str]:
        """The columns of a constraint or index in the source, to name them when
        the copy breaks it (the server names the index, its DETAIL the value)."""
        self.conn.execute("SAVEPOINT dc_names")
        try:
            rows = self.conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE c.relname = %s AND (n.nspname = %s OR %s = '') "
                "ORDER BY array_position(i.indkey::int2[], a.attnum)",
                (name, schema, schema),
            ).fetchall()
        except psycopg.Error:
            self.conn.execute("ROLLBACK TO SAVEPOINT dc_names")
            return []
        self.conn.execute("RELEASE SAVEPOINT dc_names")
        return [r[0] for r in rows]

    def schema_sql(self, section: Section) -> bytes:
        return dump_section(self.tools, section, self.params, self.snapshot, OWN_SCHEMAS)

    def masked_copy(
        self,
        plan: TablePlan,
        masker: TableMasker,
        batch_size: int,
        advance: Advance,
        key_range: KeyRange | None = None,
    ) -> Iterator[bytes]:
        """The table's rows (or one key range of them) as COPY text, masked:
        raw chunks when nothing is masked, else batches split from COPY text
        with only masked fields decoded."""
        with self.copy_out(plan, masker.unless, key_range) as chunks, batch_gc():
            if not masker.active:
                for chunk in chunks:
                    yield chunk
                    advance(chunk.count(b"\n"))
                return
            splitter = copytext.RowSplitter()
            pending: list[list[bytes]] = []
            for chunk in chunks:
                pending.extend(splitter.feed(chunk))
                while len(pending) >= batch_size:
                    batch, pending = pending[:batch_size], pending[batch_size:]
                    yield _mask_batch(batch, masker)
                    advance(len(batch))
            splitter.finish()
            if pending:
                yield _mask_batch(pending, masker)
                advance(len(pending))

    def sample(self, table: Table, columns: list[Column], limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows of ``columns``, spread over the table, as Python
        values (psycopg's types: str, int, date, dict for json, list for arrays).

        The same rows every time for the same data (scan and check must agree):
        ordered by the md5 of the primary key (else of the sampled columns),
        which spreads them over the table like a random sample but is no
        coin toss. One read of the table, as a Bernoulli sample was, and a
        top-N sort of ``limit`` rows."""
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        keys = table.primary_key or [c.name for c in columns]
        key = sql.SQL(", ").join(sql.Identifier(name) for name in keys)
        query = sql.SQL(
            "SELECT {} FROM ONLY {} ORDER BY md5(ROW({})::text), ROW({})::text LIMIT {}"
        ).format(cols, _rel(table.schema, table.name), key, key, sql.Literal(limit))
        return [tuple(row) for row in self.conn.execute(query)]

    def sequences(self) -> list[tuple[str, str, int, bool]]:
        names = self.conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname NOT IN "
            + _SYSTEM_SCHEMAS
            + "AND n.nspname <> ALL(%s) AND NOT EXISTS (SELECT 1 FROM "
            "pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "AND d.deptype = 'e') ORDER BY 1, 2",
            (list(OWN_SCHEMAS),),
        ).fetchall()
        found = []
        for schema, name in names:
            row = self.conn.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(_rel(schema, name))
            ).fetchone()
            assert row is not None
            found.append((schema, name, int(row[0]), bool(row[1])))
        return found

    def not_valid_constraints(self) -> set[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE NOT c.convalidated "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def populated_matviews(self) -> set[QualifiedName]:
        rows = self.conn.execute(
            "SELECT schemaname, matviewname FROM pg_matviews WHERE ispopulated"
        ).fetchall()
        return {(r[0], r[1]) for r in rows}


def _admin_params(params: dict[str, str]) -> dict[str, str]:
    # CREATE/DROP/ALTER DATABASE run from the server's maintenance database
    return {**params, "dbname": params.get("maintenance_db", "postgres")}


class PgTargetBuild:
    def __init__(self, url: str, source: PgSource | None, policy: SwapPolicy) -> None:
        params = conn_params(url)
        params.pop("maintenance_db", None)
        self.source = source
        self.params = params
        self.policy = policy
        self.target = params.get("dbname") or ""
        if not self.target:
            raise UsageError(f"the target URL names no database: {urls.redact(url)}")
        admin_params = _admin_params(conn_params(url))
        self.admin = connect(admin_params, "target server's maintenance")
        # every later connection and psql child reaches this very server
        admin_params = pg_conninfo.pin(admin_params, self.admin, cluster_id(self.admin))
        self.params = {**pg_conninfo.libpq_only(admin_params), "dbname": self.target}
        self.params[pg_conninfo.SERVER] = admin_params[pg_conninfo.SERVER]
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
        self.conn = connect({**self.params, "dbname": self.name}, "new target", autocommit=False)
        self.conn.execute("SET synchronous_commit = off")

    def discard(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
        if self._created and not self.generations.swapped:  # made by this run
            with contextlib.suppress(psycopg.Error):
                self.generations.drop(self.name)

    def close(self) -> None:
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
    ) -> dict[QualifiedName, int]:
        """Tables (and key ranges of big ones) in ``jobs`` worker processes,
        all reading the one exported snapshot."""
        from datacloner.engines.pg_parallel import copy_parallel

        assert self.conn is not None
        self.conn.commit()
        return copy_parallel(
            self.source,
            {**self.params, "dbname": self.name},
            tables,
            secret,
            batch_size,
            advance,
            jobs,
        )

    def finalize(self) -> None:
        assert self.conn is not None
        for schema, name, last_value, is_called in self.source.sequences():
            self.conn.execute(
                "SELECT pg_catalog.setval(%s::regclass, %s, %s)",
                (sql.Identifier(schema, name).as_string(self.conn), last_value, is_called),
            )
        populated = self.source.populated_matviews()
        for schema, name in self._matviews_in_order():
            if (schema, name) in populated:
                # built from the masked rows, never copied: no source value survives
                self.conn.execute(
                    sql.SQL("REFRESH MATERIALIZED VIEW {}").format(_rel(schema, name))
                )
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("ANALYZE")
        self.conn.autocommit = False

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
        for (schema, name), rows in loaded.items():
            row = self.conn.execute(
                sql.SQL("SELECT count(*) FROM ONLY {}").format(_rel(schema, name))
            ).fetchone()
            if row is None or row[0] != rows:
                raise Refused(
                    f"health check: {schema}.{name} has {row[0] if row else 0} rows in the new "
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


class PostgresEngine(EngineBase):
    source_class = PgSource
    build_class = PgTargetBuild
    system_databases = SYSTEM_DATABASES  # never a target

    def target_identity(self, url: str) -> dict[str, str]:
        """The target's server and database name, to refuse a target that is
        the source under another spelling."""
        params = conn_params(url)
        params.pop("maintenance_db", None)
        # refused before anything else, here as in every run that changes the target
        guards.refuse_system_database(
            params.get("dbname", ""),
            (*self.system_databases, _admin_params(conn_params(url))["dbname"]),
            "PostgreSQL",
        )
        with connect(_admin_params(conn_params(url)), "target server's maintenance") as conn:
            return {
                "engine": "postgresql",
                "cluster": cluster_id(conn),
                "database": params.get("dbname", ""),
                "host": params.get("host", "localhost"),
            }

    @contextlib.contextmanager
    def _generations(self, url: str, keep: int) -> Iterator[PgGenerations]:
        params = conn_params(url)
        params.pop("maintenance_db", None)
        admin_params = _admin_params(conn_params(url))
        with connect(admin_params, "target server's maintenance") as admin:
            generations = PgGenerations(
                admin,
                params.get("dbname", ""),
                keep,
                lambda: connect(admin_params, "target server's maintenance"),
            )
            generations.lock()
            yield generations

    def rollback(self, url: str, policy: SwapPolicy) -> list[str]:
        with self._generations(url, policy.keep) as generations:
            return generations.rollback(policy)

    def generations(self, url: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """Each copy of the target, newest first, with its manifest rows."""
        params = conn_params(url)
        params.pop("maintenance_db", None)
        with connect(_admin_params(conn_params(url)), "target server's maintenance") as admin:
            names = PgGenerations(admin, params.get("dbname", "")).existing()
        found = []
        for name in names:
            with connect({**params, "dbname": name}, "target") as conn:
                found.append((name, read_manifests(conn)))
        return found
