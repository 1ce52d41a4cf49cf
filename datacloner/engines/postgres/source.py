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
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from datacloner.core import redaction
from datacloner.core.catalog import Catalog, Column, QualifiedName, Table
from datacloner.core.errors import UsageError
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance, Section
from datacloner.engines.postgres import conninfo
from datacloner.engines.postgres.connection import cluster_id, conn_params, connect
from datacloner.engines.postgres.copytext import format_array
from datacloner.engines.postgres.rows import (
    BLOCK,
    BLOCKS,
    LAST_BLOCK,
    KeyRange,
    column_list,
    copy_blocks,
    masked_blocks,
    read_failed,
    relation,
)
from datacloner.engines.postgres.tools import (
    ClientTools,
    dump_schema,
    find_tools,
    psql_copy_out,
    section_sql,
)
from datacloner.masking.table_masker import (
    TableMasker,
    batch_gc,
)

if TYPE_CHECKING:
    from datacloner.engines.postgres.subset import Selection

log = logging.getLogger(__name__)


# schemas datacloner owns in a target; never copied from a source
OWN_SCHEMAS = ("datacloner",)

_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema') "
SEQUENCE_BATCH = 500  # sequences read per statement
# A table the catalog estimates below this many rows is read in this session,
# not by a psql child: a process and a connection (tens of ms) cost more than
# libpq's per-row work on so few rows, and at a thousand small tables they
# were most of the data stage. An estimate of 0 (an empty table, or a
# never-analyzed one whose size gave no guess) goes to psql, in case it is big.
PSQL_MIN_ROWS = 10_000

# For a table never analyzed (reltuples -1, or before PostgreSQL 14 0 with no
# pages), the planner's own guess of its rows: its pages on disk times the
# rows a page holds, from the columns' widths (a variable-width column counted
# as 32 bytes, a row's header and line pointer as 28). Only --jobs weighs
# tables by it; the catalog keeps 0 (verify must not sample a guess too thin).
_GUESSED_ROWS = (
    "CASE WHEN c.relkind = 'r' AND (c.reltuples < 0 OR (c.reltuples = 0 AND c.relpages = 0)) "
    "THEN pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int "
    "* ((current_setting('block_size')::int - 24) / (28 + (SELECT coalesce(sum("
    "CASE WHEN a.attlen > 0 THEN a.attlen ELSE 32 END), 0)::int FROM pg_catalog.pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))) END "
)


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
        a one-job refresh; small ones (``PSQL_MIN_ROWS``) are read here.
        ``--jobs`` workers read that way too: psycopg hands COPY data to Python
        one row at a time, which cost them about 1 µs of CPU per row (12% of a
        ``--jobs 2`` refresh's client CPU at 100k users)."""
        self.psql_reader = psql_reader
        self.params = params if params is not None else conn_params(url)
        self.conn = connect(self.params, "source")
        if conninfo.SERVER not in self.params:  # psql, pg_dump and workers: this server
            self.params = conninfo.pin(self.params, self.conn, cluster_id(self.conn))
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
        self._schema: bytes | None = None  # dump_schema's archive, once asked for
        # a subset's selected rows (engines/postgres/subset.py Selection): a
        # table's ctids in batches; None: every row of every table
        self.selection: Selection | None = None
        self.guessed_rows: dict[QualifiedName, int] = {}  # read_catalog's _GUESSED_ROWS

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
        if self.selection is not None:
            self.selection.close()
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
            "cluster": self.params[conninfo.SERVER],  # checked or pinned on connecting
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
            "SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::bigint, "
            + _GUESSED_ROWS
            + "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
            + _SYSTEM_SCHEMAS
            + "AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> ALL(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "  AND d.objid = c.oid AND d.deptype = 'e')",
            (list(own),),
        ).fetchall()
        oids = [r[0] for r in rels]
        by_oid: dict[int, Table] = {}
        for oid, schema, name, relkind, reltuples, guessed in rels:
            if guessed:
                self.guessed_rows[(schema, name)] = int(guessed)
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
        rel = relation(plan.table.schema, plan.table.name)
        tids = self.selection.tids(plan.table.qualified, key_range) if self.selection else None
        if tids is not None:
            yield self._copy_selected(plan, unless, tids)
            return
        if unless or key_range:
            # `unless` rows pass unmasked: the source evaluates it, as a trailing flag
            flag = sql.SQL("")
            if unless:
                flag = sql.SQL(", ({})::boolean").format(sql.SQL(unless))  # type: ignore[arg-type]
            where = sql.SQL("")
            if key_range:
                where = sql.SQL(" WHERE ") + key_range.condition()
            query = sql.SQL("COPY (SELECT {}{} FROM ONLY {}{}) TO STDOUT").format(
                column_list(plan), flag, rel, where
            )
        else:
            query = sql.SQL("COPY {} ({}) TO STDOUT").format(rel, column_list(plan))
        small = 0 < self.rows(plan) < PSQL_MIN_ROWS
        if not self.psql_reader or small:
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

    def _copy_selected(
        self, plan: TablePlan, unless: str | None, batches: Iterator[list[str]]
    ) -> Iterator[bytes]:
        """The subset's rows of a table: one COPY per batch of ctids (a TID scan)."""
        flag = sql.SQL("")
        if unless:
            flag = sql.SQL(", ({})::boolean").format(sql.SQL(unless))  # type: ignore[arg-type]
        for tids in batches:
            literal = format_array(tids)
            query = sql.SQL(
                "COPY (SELECT {}{} FROM ONLY {} WHERE ctid = ANY({}::tid[])) TO STDOUT"
            ).format(
                column_list(plan),
                flag,
                relation(plan.table.schema, plan.table.name),
                sql.Literal(literal),
            )
            try:
                with self.conn.cursor() as cur, cur.copy(query) as copy:
                    yield from copy_blocks(copy)
            except psycopg.Error as exc:
                raise read_failed(plan, redaction.from_psycopg(exc), unless) from None

    def foreign_keys(self, catalog: Catalog) -> list[Any]:
        """Every foreign key between the catalog's tables, for subsetting."""
        from datacloner.engines.postgres.subset import foreign_keys

        return foreign_keys(self.conn, catalog)

    def subset_where_problem(self, table: Table, where: str) -> str | None:
        """What is wrong with a subset start's ``where`` on the live table."""
        from datacloner.engines.postgres.subset import check_where

        return check_where(self.conn, table, where)

    def rows(self, plan: TablePlan) -> int:
        """The rows a table's copy will read: a subset's selected rows when
        counted, else the catalog's estimate (a guess from its size if it was
        never analyzed)."""
        if self.selection is not None and plan.table.qualified in self.selection.rows:
            return self.selection.rows[plan.table.qualified]
        return plan.table.row_estimate or self.guessed_rows.get(plan.table.qualified, 0)

    def key_ranges(self, plan: TablePlan, parts: int) -> list[KeyRange]:
        """Split a table into ``parts`` ranges of heap blocks (a subset's
        selected table: of the blocks holding its selected rows); before
        PostgreSQL 14, which cannot scan a range of blocks alone, a table with
        a single integer primary key into ranges of that key."""
        if self.selection is not None and plan.table.qualified in self.selection.names:
            return self.selection.block_ranges(plan.table.qualified, parts)
        if plan.table.partitioned or parts < 2:
            return []  # a partitioned parent holds no rows: its partitions split
        if self.server_major >= 14:
            return self._block_ranges(plan, parts)
        key = plan.table.primary_key
        column = plan.table.column(key[0]) if len(key) == 1 else None
        if column is None or column.type not in ("integer", "bigint", "smallint"):
            return []
        row = self.conn.execute(
            sql.SQL("SELECT min({k}), max({k}) FROM ONLY {t}").format(
                k=sql.Identifier(column.name), t=relation(plan.table.schema, plan.table.name)
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

    def _block_ranges(self, plan: TablePlan, parts: int) -> list[KeyRange]:
        """The table's heap in ``parts`` ranges of blocks: any table splits, and
        each worker reads only its own blocks, in physical order. Each row
        version lives in one block, so every row visible in the snapshot is
        read once; the last range is open, for blocks added since."""
        blocks = self._one(
            "SELECT pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::bigint "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            plan.table.schema,
            plan.table.name,
        )
        if blocks < 2:
            return []
        step = -(-blocks // parts)
        starts = list(range(0, blocks, step))
        return [
            KeyRange(BLOCKS, start, end)
            for start, end in zip(starts, [*starts[1:], LAST_BLOCK], strict=True)
        ]

    def check_condition(self, plan: TablePlan) -> None:
        """A table's ``unless`` must be valid SQL over its columns, before any row moves."""
        if not plan.unless:
            return
        # WHERE, not a cast: `unless: id` must be refused ("argument of WHERE must
        # be type boolean"), not read as "every row with a non-zero id"
        query = sql.SQL("SELECT FROM ONLY {} WHERE ({}) LIMIT 0").format(
            relation(plan.table.schema, plan.table.name),
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
        if self._schema is None:  # both sections from one read of the catalog
            self._schema = dump_schema(self.tools, self.params, self.snapshot, OWN_SCHEMAS)
        return section_sql(self.tools, self._schema, section)

    def masked_copy(
        self,
        plan: TablePlan,
        masker: TableMasker,
        batch_size: int,
        advance: Advance,
        key_range: KeyRange | None = None,
    ) -> Iterator[bytes]:
        """The table's rows (or one key range of them) as COPY text, masked:
        raw chunks when nothing is masked, else batches of COPY text with
        only the masked fields taken out and put back."""
        with self.copy_out(plan, masker.unless, key_range) as chunks, batch_gc():
            if not masker.active:
                for chunk in chunks:
                    yield chunk
                    advance(chunk.count(b"\n"))
                return
            yield from masked_blocks(chunks, masker, batch_size, advance)

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
        ).format(cols, relation(table.schema, table.name), key, key, sql.Literal(limit))
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
        # every sequence's state in one statement per SEQUENCE_BATCH sequences:
        # a query per sequence was a round trip per serial column
        found = []
        for start in range(0, len(names), SEQUENCE_BATCH):
            part = names[start : start + SEQUENCE_BATCH]
            query = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {}::int, last_value, is_called FROM {}").format(
                    sql.Literal(i), relation(schema, name)
                )
                for i, (schema, name) in enumerate(part)
            )
            for i, last_value, is_called in self.conn.execute(query):
                schema, name = part[i]
                found.append((schema, name, int(last_value), bool(is_called)))
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
