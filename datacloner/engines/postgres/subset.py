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

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from datacloner.core.catalog import Catalog, QualifiedName, Table
from datacloner.core.subset import Start
from datacloner.engines.postgres.connection import connect
from datacloner.engines.postgres.rows import relation
from datacloner.subset.graph import Edge, ForeignKey, SubsetPlan
from datacloner.subset.select import FollowingStore

SCHEMA = "__dc_subset"
BATCH = 20_000  # key values per query on the source; rows per insert into the store
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


def row_hash(table: Table, alias: str) -> sql.Composable:
    """A keyed hash of the row's primary key (all columns without one) in
    [0, 2**60), computed by the server; the key (``%(salt)s``) comes from the
    config's secret. md5, not ``hashtext``: the same value on every version."""
    if table.primary_key:
        key = sql.SQL("ROW({})::text").format(
            sql.SQL(", ").join(sql.Identifier(alias, c) for c in table.primary_key)
        )
    else:
        key = sql.SQL("{}::text").format(sql.Identifier(alias))
    return sql.SQL("('x' || substr(md5(%(salt)s || {}), 1, 15))::bit(60)::bigint").format(key)


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


class PgSubsetStore(FollowingStore):
    """The selection (a :class:`datacloner.subset.select.Store`): reads on
    ``source``'s connection, keys kept in the new copy ``params`` names."""

    def __init__(self, source: Any, catalog: Catalog, params: dict[str, str], salt: str) -> None:
        self.source = source.conn
        self.catalog = catalog
        self.salt = salt
        self.conn = connect(params, "new target", autocommit=False)
        self.tables: dict[QualifiedName, sql.Identifier] = {}
        self.keys: dict[QualifiedName, list[str]] = {}
        self.plan: SubsetPlan | None = None

    def close(self) -> None:
        self.conn.close()

    # -- the store -------------------------------------------------------------
    def prepare(self, plan: SubsetPlan) -> None:
        self.plan = plan
        self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        for i, table in enumerate(sorted(plan.selected)):
            ident = sql.Identifier(SCHEMA, f"t{i}")
            self.tables[table], self.keys[table] = ident, plan.keys[table]
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
        self.conn.commit()

    def _key_list(self, table: QualifiedName, alias: str) -> sql.Composable:
        return sql.SQL("").join(
            sql.SQL(", {}::text").format(sql.Identifier(alias, c)) for c in self.keys[table]
        )

    def _insert(
        self, table: QualifiedName, rows: list[tuple[Any, ...]], gen: int, down: bool
    ) -> int:
        if not rows:
            return 0
        width = len(self.keys[table])
        arrays = [[r[i] for r in rows] for i in range(width + 1)]
        names = sql.SQL(", ").join(sql.Identifier(f"k{j}") for j in range(width))
        casts = sql.SQL("").join(sql.SQL(", %s::text[]") for _ in range(width))
        conflict = (
            sql.SQL("DO UPDATE SET down_gen = EXCLUDED.down_gen WHERE {}.down_gen IS NULL").format(
                self.tables[table]
            )
            if down
            else sql.SQL("DO NOTHING")
        )
        query = sql.SQL(
            "INSERT INTO {t} (tid, up_gen, down_gen{sep}{names}) "
            "SELECT DISTINCT ON (u.tid) u.tid, %s, %s{sep}{unames} "
            "FROM unnest(%s::tid[]{casts}) u(tid{sep}{names}) ON CONFLICT (tid) {conflict}"
        ).format(
            t=self.tables[table],
            sep=sql.SQL(", " if width else ""),
            names=names,
            unames=sql.SQL(", ").join(sql.Identifier("u", f"k{j}") for j in range(width)),
            casts=casts,
            conflict=conflict,
        )
        cur = self.conn.execute(query, [gen, gen if down else None, *arrays])
        return max(cur.rowcount, 0)

    def _read_source(
        self, query: sql.Composable, params: dict[str, Any] | None
    ) -> Iterator[list[tuple[Any, ...]]]:
        # a server-side cursor in the source's open read-only transaction: a
        # big child table's rows arrive a batch at a time, never all at once
        with self.source.cursor(name="dc_subset_read") as cur:
            cur.execute(query, params)
            while rows := cur.fetchmany(BATCH):
                yield rows

    # -- the steps ---------------------------------------------------------------
    def seed(self, table: QualifiedName, start: Start) -> int:
        t = self.catalog.tables[table]
        h = row_hash(t, "r")
        query = sql.SQL("SELECT r.ctid::text{} FROM ONLY {} r").format(
            self._key_list(table, "r"), relation(t.schema, t.name)
        )
        conditions: list[sql.Composable] = []
        if start.where:
            # `%` is psycopg's placeholder mark: a LIKE pattern's `%` is doubled
            where = start.where.replace("%", "%%")
            conditions.append(sql.SQL("({})").format(sql.SQL(where)))  # type: ignore[arg-type]
        if start.share is not None and start.share < 100:
            # membership depends on the row's own key only: later rows never displace it
            threshold = int(start.share / 100 * 2**60)
            conditions.append(sql.SQL("{} < {}").format(h, sql.Literal(threshold)))
        if conditions:
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(conditions))
        if start.count is not None:
            query = sql.SQL("{} ORDER BY {}, r.ctid LIMIT {}").format(
                query, h, sql.Literal(start.count)
            )
        added = 0
        for rows in self._read_source(query, {"salt": self.salt}):
            added += self._insert(table, rows, 0, down=True)
        return added

    def _values(
        self, table: QualifiedName, columns: tuple[str, ...], where: sql.Composable
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Distinct non-NULL values of ``columns`` among the store's rows of
        ``table`` that ``where`` picks, a batch at a time."""
        keys = self.keys[table]
        picked = [sql.Identifier(f"k{keys.index(c)}") for c in columns]
        query = sql.SQL("SELECT DISTINCT {} FROM {} WHERE {} AND {}").format(
            sql.SQL(", ").join(picked),
            self.tables[table],
            where,
            sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(p) for p in picked),
        )
        with self.conn.cursor(name="dc_subset_values") as cur:
            cur.execute(query)
            while rows := cur.fetchmany(BATCH):
                yield rows

    def _matching(self, target: Table, columns: tuple[str, ...], cap: int | None) -> sql.Composable:
        """Rows of ``target`` whose ``columns`` equal one of the values sent as
        text arrays (%(v0)s, ...), cast to the columns' types on the source."""
        cols = [target.column(c) for c in columns]
        width = len(columns)
        unnest = sql.SQL("SELECT DISTINCT {} FROM unnest({}) u({})").format(
            sql.SQL(", ").join(
                sql.SQL("u.{}::{}").format(
                    sql.Identifier(f"v{i}"), sql.SQL(c.type if c else "text")
                )
                for i, c in enumerate(cols)
            ),
            sql.SQL(", ").join(sql.SQL(f"%(v{i})s::text[]") for i in range(width)),
            sql.SQL(", ").join(sql.Identifier(f"v{i}") for i in range(width)),
        )
        match = sql.SQL("({}) IN ({})").format(
            sql.SQL(", ").join(sql.Identifier("r", c) for c in columns), unnest
        )
        rel = relation(target.schema, target.name)
        keys = self._key_list(target.qualified, "r")
        if cap is None:
            return sql.SQL("SELECT r.ctid::text{} FROM ONLY {} r WHERE {}").format(keys, rel, match)
        ranked = sql.SQL(
            "SELECT r.ctid::text AS tid{}, row_number() OVER (PARTITION BY {} ORDER BY {}, r.ctid) "
            "AS n FROM ONLY {} r WHERE {}"
        ).format(
            sql.SQL("").join(
                sql.SQL(", {}::text AS {}").format(sql.Identifier("r", c), sql.Identifier(f"k{j}"))
                for j, c in enumerate(self.keys[target.qualified])
            ),
            sql.SQL(", ").join(sql.Identifier("r", c) for c in columns),
            row_hash(target, "r"),
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
        where = sql.SQL("{} = {}").format(sql.Identifier(generation), sql.Literal(gen - 1))
        target = self.catalog.tables[to]
        query = self._matching(target, to_columns, cap)
        added = 0
        for values in self._values(frm, frm_columns, where):
            params: dict[str, Any] = {"salt": self.salt}
            for i in range(len(frm_columns)):
                params[f"v{i}"] = [v[i] for v in values]
            for rows in self._read_source(query, params):
                added += self._insert(to, rows, gen, down)
        return added

    def _up_from_whole(self, edge: Edge) -> int:
        child, parent = self.catalog.tables[edge.child], self.catalog.tables[edge.parent]
        query = sql.SQL(
            "SELECT r.ctid::text{} FROM ONLY {} r WHERE ({}) IN (SELECT {} FROM ONLY {} c)"
        ).format(
            self._key_list(edge.parent, "r"),
            relation(parent.schema, parent.name),
            sql.SQL(", ").join(sql.Identifier("r", c) for c in edge.fk.ref_columns),
            sql.SQL(", ").join(sql.Identifier("c", c) for c in edge.fk.columns),
            relation(child.schema, child.name),
        )
        added = 0
        for rows in self._read_source(query, None):
            added += self._insert(edge.parent, rows, 0, down=False)
        return added

    def counts(self) -> dict[QualifiedName, int]:
        found = {}
        for table, ident in self.tables.items():
            row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
            found[table] = int(row[0]) if row else 0
        self.conn.commit()
        return found

    def whole_count(self, table: QualifiedName) -> int:
        t = self.catalog.tables[table]
        row = self.source.execute(
            sql.SQL("SELECT count(*) FROM ONLY {}").format(relation(t.schema, t.name))
        ).fetchone()
        return int(row[0]) if row else 0

    # -- the copy ------------------------------------------------------------------
    def tids(self, table: QualifiedName) -> Iterator[list[str]] | None:
        """The selected ``ctid``s of a selected leaf, a batch at a time, in
        physical order; None for a table not subset (copied whole or empty)."""
        if table not in self.tables:
            return None
        return self._tids(self.tables[table])

    def _tids(self, ident: sql.Identifier) -> Iterator[list[str]]:
        with self.conn.cursor(name="dc_subset_tids") as cur:
            cur.execute(sql.SQL("SELECT tid::text FROM {} ORDER BY tid").format(ident))
            while rows := cur.fetchmany(TIDS):
                yield [r[0] for r in rows]
        self.conn.commit()

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
        self.conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
        )
        self.conn.commit()
        self.conn.close()  # the swap renames the database: no session may stay
