"""PostgreSQL's side of subsetting (docs/subset.md).

Reads run on the source's connection, in its read-only transaction and
exported snapshot: no temporary table, no write, so a hot standby will do.
A row is known by its ``ctid`` (stable within one snapshot, also for a
table without a primary key); the selected ``ctid``s and the key columns the
foreign keys need are kept, as text, in a schema ``__dc_subset`` of the new
copy being built, dropped before the swap. Values travel between the two
databases in batches (``unnest`` of text arrays, cast on the source).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from datacloner.core.catalog import Catalog, QualifiedName, Table
from datacloner.core.subset import Start
from datacloner.engines.postgres.connection import connect
from datacloner.engines.postgres.copytext import format_array
from datacloner.engines.postgres.rows import BLOCKS, KeyRange, relation
from datacloner.subset.graph import Edge, ForeignKey, SubsetPlan
from datacloner.subset.select import FollowingStore

SCHEMA = "__dc_subset"
BATCH = 20_000  # key values per query on the source
TIDS = 50_000  # ctids per COPY of the selected rows


def foreign_keys(conn: psycopg.Connection, catalog: Catalog) -> list[ForeignKey]:
    """Every foreign key between catalog tables, once (a partitioned table's
    key on the partitioned table, not its clones on each partition)."""
    rows = conn.execute(
        "SELECT c.conname, cn.nspname, cr.relname, "
        "  ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
        "        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
        "  pn.nspname, pr.relname, "
        "  ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) "
        "        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n "
        "        ORDER BY k.i), "
        "  NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid "
        "              AND a.attnum = ANY(c.conkey) AND a.attnotnull), "
        "  c.condeferrable "
        "FROM pg_constraint c "
        "JOIN pg_class cr ON cr.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cr.relnamespace "
        "JOIN pg_class pr ON pr.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pr.relnamespace "
        "WHERE c.contype = 'f' AND c.conparentid = 0 ORDER BY 2, 3, 1"
    ).fetchall()
    found = []
    for name, cs, ct, cols, ps, pt, refs, nullable, deferrable in rows:
        if (cs, ct) in catalog.tables and (ps, pt) in catalog.tables:
            found.append(
                ForeignKey(name, (cs, ct), tuple(cols), (ps, pt), tuple(refs), nullable, deferrable)
            )
    return found


# key types whose ``ROW(k)::text`` is ``'(' || k::text || ')'``: written
# directly, the record output function costs more than md5 itself
_PLAIN_KEYS = ("smallint", "integer", "bigint")


def row_hash(table: Table, alias: str, salt: str) -> sql.Composable:
    """A keyed hash of the row's primary key (all columns without one), computed
    by the server: the md5 (hex text, in the "C" collation) of the key from the
    config's secret (``salt``) and the key's record text. md5, not ``hashtext``:
    the same value on every version, and on MySQL and SQLite (docs/subset.md).
    Its first 15 hex digits as a 60-bit number are what a share compares: on
    fixed-width hex, ``text < hex(t)`` is that number ``< t``, without the
    casts that took most of the time over a big table."""
    key: sql.Composable
    column = table.column(table.primary_key[0]) if len(table.primary_key) == 1 else None
    if column is not None and column.type in _PLAIN_KEYS:
        key = sql.SQL("'(' || {}::text || ')'").format(sql.Identifier(alias, column.name))
    elif table.primary_key:
        key = sql.SQL("ROW({})::text").format(
            sql.SQL(", ").join(sql.Identifier(alias, c) for c in table.primary_key)
        )
    else:
        key = sql.SQL("{}::text").format(sql.Identifier(alias))
    return sql.SQL('md5({} || {}) COLLATE "C"').format(sql.Literal(salt), key)


def under_share(table: Table, alias: str, salt: str, share: float) -> sql.Composable:
    """The row's hash falls under ``share`` percent of the hash range (2**60)."""
    threshold = int(share / 100 * 2**60)
    return sql.SQL("{} < {}").format(row_hash(table, alias, salt), sql.Literal(f"{threshold:015x}"))


def text_array(values: list[str]) -> sql.Composable:
    """``values`` as one ``text[]`` literal: COPY takes no parameters."""
    return sql.SQL("{}::text[]").format(sql.Literal(format_array(values)))


def check_where(conn: psycopg.Connection, table: Table, where: str) -> str | None:
    """What is wrong with a start's ``where`` on the live table, or None."""
    from datacloner.core import redaction

    conn.execute("SAVEPOINT dc_subset_where")
    try:
        conn.execute(
            sql.SQL("SELECT FROM ONLY {} WHERE ({}) LIMIT 0").format(
                relation(table.schema, table.name),
                sql.SQL(where),  # type: ignore[arg-type]
            )
        )
    except psycopg.Error as exc:
        conn.execute("ROLLBACK TO SAVEPOINT dc_subset_where")
        return redaction.database_error(exc, [c.name for c in table.columns] + where.split())
    conn.execute("RELEASE SAVEPOINT dc_subset_where")
    return None


class Selection:
    """Where the selected ``ctid``s are: the store's tables in the new copy.
    The copy reads them through it, in the leader and in each ``--jobs``
    worker (it travels in their Job: picklable, each process opens its own
    connection on first use)."""

    def __init__(self, params: dict[str, str], names: dict[QualifiedName, str]) -> None:
        self.params = params
        self.names = names  # selected leaf -> its table in the store
        self.rows: dict[QualifiedName, int] = {}  # selected rows per leaf, once counted
        self._conn: psycopg.Connection | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_conn": None}

    def _connection(self) -> psycopg.Connection:
        if self._conn is None:
            self._conn = connect(self.params, "new target", autocommit=False)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def tids(self, table: QualifiedName, blocks: KeyRange | None) -> Iterator[list[str]] | None:
        """The selected ``ctid``s of a selected leaf (in ``blocks``, a range of
        heap blocks, when given), a batch at a time, in physical order; None
        for a table not subset (copied whole or empty)."""
        if table not in self.names:
            return None
        return self._tids(sql.Identifier(SCHEMA, self.names[table]), blocks)

    def _tids(self, ident: sql.Identifier, blocks: KeyRange | None) -> Iterator[list[str]]:
        where = sql.SQL("")
        if blocks is not None:
            where = sql.SQL(" WHERE ") + blocks.condition("tid")
        conn = self._connection()
        with conn.cursor(name="dc_subset_tids") as cur:
            cur.execute(sql.SQL("SELECT tid::text FROM {}{} ORDER BY tid").format(ident, where))
            while rows := cur.fetchmany(TIDS):
                yield [r[0] for r in rows]
        conn.commit()

    def block_ranges(self, table: QualifiedName, parts: int) -> list[KeyRange]:
        """The heap blocks holding a leaf's selected rows in ``parts`` ranges,
        for ``--jobs`` workers to copy apart (a key range would read them all)."""
        if parts < 2:
            return []
        conn = self._connection()
        block = sql.SQL("((tid::text)::point)[0]::bigint")
        row = conn.execute(
            sql.SQL("SELECT min({b}), max({b}) FROM {t}").format(
                b=block, t=sql.Identifier(SCHEMA, self.names[table])
            )
        ).fetchone()
        conn.commit()
        if row is None or row[0] is None:
            return []
        low, high = int(row[0]), int(row[1]) + 1
        step = max(1, -(-(high - low) // parts))
        return [
            KeyRange(BLOCKS, start, min(start + step, high)) for start in range(low, high, step)
        ]


class PgSubsetStore(FollowingStore):
    """The selection (a :class:`datacloner.subset.select.Store`): reads on
    ``source``'s connection, keys kept in the new copy ``params`` names."""

    def __init__(self, source: Any, catalog: Catalog, params: dict[str, str], salt: str) -> None:
        self.reader = source  # the PgSource: its copy reads through our Selection
        self.source = source.conn
        self.params = params
        self.catalog = catalog
        self.salt = salt
        self.conn = connect(params, "new target", autocommit=False)
        self.tables: dict[QualifiedName, sql.Identifier] = {}
        self.stages: dict[QualifiedName, sql.Identifier] = {}  # rows read, not yet merged
        self.filled: set[QualifiedName] = set()  # tables whose store holds rows
        self.keys: dict[QualifiedName, list[str]] = {}
        self.plan: SubsetPlan | None = None

    def close(self) -> None:
        self._end_selection()
        self.conn.close()

    def _end_selection(self) -> None:
        if self.reader.selection is not None:
            self.reader.selection.close()
            self.reader.selection = None

    # -- the store -------------------------------------------------------------
    def prepare(self, plan: SubsetPlan) -> None:
        self.plan = plan
        self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        names: dict[QualifiedName, str] = {}
        for i, table in enumerate(sorted(plan.selected)):
            names[table] = f"t{i}"
            ident = sql.Identifier(SCHEMA, names[table])
            stage = sql.Identifier(SCHEMA, f"s{i}")
            self.tables[table], self.keys[table] = ident, plan.keys[table]
            self.stages[table] = stage
            columns = sql.SQL("").join(
                sql.SQL(", {} text").format(sql.Identifier(f"k{j}"))
                for j in range(len(plan.keys[table]))
            )
            self.conn.execute(
                sql.SQL(
                    "CREATE UNLOGGED TABLE {} (tid tid PRIMARY KEY, up_gen int NOT NULL, "
                    "down_gen int{})"
                ).format(ident, columns)
            )
            self.conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (tid tid NOT NULL{})").format(stage, columns)
            )
        self.conn.commit()
        self.reader.selection = Selection(self.params, names)

    def _key_list(self, table: QualifiedName, alias: str) -> sql.Composable:
        return sql.SQL("").join(
            sql.SQL(", {}::text").format(sql.Identifier(alias, c)) for c in self.keys[table]
        )

    def _step(
        self, queries: Iterable[sql.Composable], table: QualifiedName, gen: int, down: bool
    ) -> int:
        """The rows of ``queries`` (``ctid`` and key text, on the source) into
        ``table``'s store as rows of ``gen``; rows new (or, ``down``, turned
        into down rows). Into an empty store they go straight in: no query
        returns a row twice, nor do two batches of one step (a row matches
        one value only), so there is nothing to merge."""
        if table in self.filled:
            for query in queries:
                self._pull(query, table, None)
            added = self._merge(table, gen, down)
        else:
            gens = (gen, gen if down else None)
            added = sum(self._pull(query, table, gens) for query in queries)
        if added:
            self.filled.add(table)
        return added

    def _pull(
        self, query: sql.Composable, table: QualifiedName, gens: tuple[int, int | None] | None
    ) -> int:
        """Stream the rows of ``query`` into ``table``'s stage (``gens`` None)
        or, as rows of those generations, into its store: COPY out, COPY in,
        the blocks passed through as they come (no row is parsed here, memory
        stays flat); rows copied."""
        names = sql.SQL("").join(
            sql.SQL(", {}").format(sql.Identifier(f"k{j}")) for j in range(len(self.keys[table]))
        )
        if gens is None:
            into = sql.SQL("COPY {} (tid{}) FROM STDIN").format(self.stages[table], names)
        else:
            into = sql.SQL("COPY {} (tid{}, up_gen, down_gen) FROM STDIN").format(
                self.tables[table], names
            )
            query = sql.SQL("SELECT q.*, {}, {} FROM ({}) q").format(
                sql.Literal(gens[0]), sql.Literal(gens[1]), query
            )
        out = sql.SQL("COPY ({}) TO STDOUT").format(query)
        with (
            self.source.cursor() as src,
            src.copy(out) as rows,
            self.conn.cursor() as dst,
        ):
            with dst.copy(into) as sink:
                for block in rows:
                    sink.write(block)
            return max(dst.rowcount, 0)

    def _merge(self, table: QualifiedName, gen: int, down: bool) -> int:
        """The staged rows into the table's store as rows of ``gen``; rows new
        (or, ``down``, turned into down rows)."""
        width = len(self.keys[table])
        names = sql.SQL("").join(
            sql.SQL(", {}").format(sql.Identifier(f"k{j}")) for j in range(width)
        )
        conflict = (
            sql.SQL("DO UPDATE SET down_gen = EXCLUDED.down_gen WHERE {}.down_gen IS NULL").format(
                self.tables[table]
            )
            if down
            else sql.SQL("DO NOTHING")
        )
        cur = self.conn.execute(
            sql.SQL(
                "INSERT INTO {t} (tid, up_gen, down_gen{names}) "
                "SELECT DISTINCT ON (tid) tid, {gen}, {down}{names} FROM {stage} "
                "ON CONFLICT (tid) {conflict}"
            ).format(
                t=self.tables[table],
                names=names,
                gen=sql.Literal(gen),
                down=sql.Literal(gen) if down else sql.SQL("NULL::int"),
                stage=self.stages[table],
                conflict=conflict,
            )
        )
        added = max(cur.rowcount, 0)
        self.conn.execute(sql.SQL("TRUNCATE {}").format(self.stages[table]))
        return added

    # -- the steps ---------------------------------------------------------------
    def seed(self, table: QualifiedName, start: Start) -> int:
        t = self.catalog.tables[table]
        query = sql.SQL("SELECT r.ctid{} FROM ONLY {} r").format(
            self._key_list(table, "r"), relation(t.schema, t.name)
        )
        conditions: list[sql.Composable] = []
        if start.where:
            conditions.append(sql.SQL("({})").format(sql.SQL(start.where)))  # type: ignore[arg-type]
        if start.share is not None and start.share < 100:
            # membership depends on the row's own key only: later rows never displace it
            conditions.append(under_share(t, "r", self.salt, start.share))
        if conditions:
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(conditions))
        if start.count is not None:
            query = sql.SQL("{} ORDER BY {}, r.ctid LIMIT {}").format(
                query, row_hash(t, "r", self.salt), sql.Literal(start.count)
            )
        with self._parallel():
            return self._step([query], table, 0, down=True)

    @contextlib.contextmanager
    def _parallel(self) -> Iterator[None]:
        """A start's scan of a whole table in parallel workers where the source
        allows them: the planner, thinking md5 cheap, would scan alone, and the
        hash is most of a seed's time. Undone after by rolling back to a savepoint
        (the source's transaction is read-only: nothing else is undone)."""
        self.source.execute("SAVEPOINT dc_parallel")
        for name in ("parallel_setup_cost", "parallel_tuple_cost"):
            self.source.execute(f"SET LOCAL {name} = 0")
        yield  # on an error the run stops: the source's transaction is rolled back
        self.source.execute("ROLLBACK TO SAVEPOINT dc_parallel")

    def _values(
        self, table: QualifiedName, columns: tuple[str, ...], where: sql.Composable
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Distinct non-NULL values of ``columns`` among the store's rows of
        ``table`` that ``where`` picks, a batch at a time."""
        keys = self.keys[table]
        picked = [sql.Identifier("c", f"k{keys.index(c)}") for c in columns]
        query = sql.SQL("SELECT DISTINCT {} FROM {} c WHERE {} AND {}").format(
            sql.SQL(", ").join(picked),
            self.tables[table],
            where,
            sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(p) for p in picked),
        )
        with self.conn.cursor(name="dc_subset_values") as cur:
            cur.execute(query)
            while rows := cur.fetchmany(BATCH):
                yield rows

    def _matching(
        self,
        target: Table,
        columns: tuple[str, ...],
        values: list[tuple[Any, ...]],
        cap: int | None,
    ) -> sql.Composable:
        """Rows of ``target`` whose ``columns`` equal one of ``values`` (sent as
        text arrays, cast to the columns' types on the source). Literal arrays:
        the planner then knows how many values there are."""
        cols = [target.column(c) for c in columns]
        width = len(columns)
        unnest = sql.SQL("SELECT DISTINCT {} FROM unnest({}) u({})").format(
            sql.SQL(", ").join(
                sql.SQL("u.{}::{}").format(
                    sql.Identifier(f"v{i}"), sql.SQL(c.type if c else "text")
                )
                for i, c in enumerate(cols)
            ),
            sql.SQL(", ").join(text_array([v[i] for v in values]) for i in range(width)),
            sql.SQL(", ").join(sql.Identifier(f"v{i}") for i in range(width)),
        )
        match = sql.SQL("({}) IN ({})").format(
            sql.SQL(", ").join(sql.Identifier("r", c) for c in columns), unnest
        )
        rel = relation(target.schema, target.name)
        keys = self._key_list(target.qualified, "r")
        if cap is None:
            return sql.SQL("SELECT r.ctid{} FROM ONLY {} r WHERE {}").format(keys, rel, match)
        ranked = sql.SQL(
            "SELECT r.ctid AS tid{}, row_number() OVER (PARTITION BY {} ORDER BY {}, r.ctid) "
            "AS n FROM ONLY {} r WHERE {}"
        ).format(
            sql.SQL("").join(
                sql.SQL(", {}::text AS {}").format(sql.Identifier("r", c), sql.Identifier(f"k{j}"))
                for j, c in enumerate(self.keys[target.qualified])
            ),
            sql.SQL(", ").join(sql.Identifier("r", c) for c in columns),
            row_hash(target, "r", self.salt),
            rel,
            match,
        )
        outer = sql.SQL("").join(
            sql.SQL(", s.{}").format(sql.Identifier(f"k{j}"))
            for j in range(len(self.keys[target.qualified]))
        )
        return sql.SQL("SELECT s.tid{} FROM ({}) s WHERE s.n <= {}").format(
            outer, ranked, sql.Literal(cap)
        )

    def _follow(
        self,
        frm: QualifiedName,
        frm_columns: tuple[str, ...],
        to: QualifiedName,
        to_columns: tuple[str, ...],
        generation: str,
        gen: int,
        down: bool,
        cap: int | None,
    ) -> int:
        where = sql.SQL("c.{} = {}").format(sql.Identifier(generation), sql.Literal(gen - 1))
        if not down and all(c in self.keys[to] for c in to_columns):
            # a parent already selected is not looked up again: the referenced
            # key is unique, so its row is the one the store holds (most of an
            # up step, when the children came down from that very parent)
            mine, theirs = self.keys[frm], self.keys[to]
            where = sql.SQL("{} AND NOT EXISTS (SELECT FROM {} p WHERE {})").format(
                where,
                self.tables[to],
                sql.SQL(" AND ").join(
                    sql.SQL("p.{} = c.{}").format(
                        sql.Identifier(f"k{theirs.index(t)}"), sql.Identifier(f"k{mine.index(f)}")
                    )
                    for f, t in zip(frm_columns, to_columns, strict=True)
                ),
            )
        target = self.catalog.tables[to]
        # every batch of values staged, then merged once: a row matches one
        # value tuple only, so no batch repeats another's rows
        queries = (
            self._matching(target, to_columns, values, cap)
            for values in self._values(frm, frm_columns, where)
        )
        return self._step(queries, to, gen, down)

    def _up_from_whole(self, edge: Edge) -> int:
        child, parent = self.catalog.tables[edge.child], self.catalog.tables[edge.parent]
        query = sql.SQL(
            "SELECT r.ctid{} FROM ONLY {} r WHERE ({}) IN (SELECT {} FROM ONLY {} c)"
        ).format(
            self._key_list(edge.parent, "r"),
            relation(parent.schema, parent.name),
            sql.SQL(", ").join(sql.Identifier("r", c) for c in edge.fk.ref_columns),
            sql.SQL(", ").join(sql.Identifier("c", c) for c in edge.fk.columns),
            relation(child.schema, child.name),
        )
        return self._step([query], edge.parent, 0, down=False)

    def counts(self) -> dict[QualifiedName, int]:
        found = {}
        for table, ident in self.tables.items():
            row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
            found[table] = int(row[0]) if row else 0
        self.conn.commit()
        if self.reader.selection is not None:
            self.reader.selection.rows = found
        return found

    def whole_count(self, table: QualifiedName) -> int:
        t = self.catalog.tables[table]
        row = self.source.execute(
            sql.SQL("SELECT count(*) FROM ONLY {}").format(relation(t.schema, t.name))
        ).fetchone()
        return int(row[0]) if row else 0

    def finish(self, nulled: list[ForeignKey]) -> None:
        """After the rows, before the foreign keys are created: a nullable key
        whose parent row was not copied becomes NULL; the store is dropped."""
        for fk in nulled:
            child = relation(*fk.child)
            self.conn.execute(
                sql.SQL(
                    "UPDATE {} c SET {} WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})"
                ).format(
                    child,
                    sql.SQL(", ").join(
                        sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in fk.columns
                    ),
                    sql.SQL(" AND ").join(
                        sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns
                    ),
                    relation(*fk.parent),
                    sql.SQL(" AND ").join(
                        sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
                        for c, p in zip(fk.columns, fk.ref_columns, strict=True)
                    ),
                )
            )
        self._end_selection()  # its reader's session would hold the store's tables
        self.conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
        )
        self.conn.commit()
        self.conn.close()  # the swap renames the database: no session may stay
