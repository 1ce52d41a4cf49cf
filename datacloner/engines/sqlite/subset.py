"""SQLite's side of subsetting (docs/subset.md).

Reads run on the source's read-only connection, in its one read transaction.
A row is known by its ``rowid``; the selected rowids and the key columns the
foreign keys need are kept in tables ``__dc_subset_*`` of the new copy being
built (through the build's own connection, so the copy can read them while
it writes), dropped before the indexes and triggers are created. Key values
travel to the source as JSON arrays (``json_each``). The keyed row hash is a
deterministic function registered on the source connection: SQLite runs in
this process, so that is where its "server" computes it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from datacloner.core.catalog import Catalog, QualifiedName, Table
from datacloner.core.errors import UsageError
from datacloner.core.subset import Start
from datacloner.subset.graph import Edge, ForeignKey, SubsetPlan
from datacloner.subset.select import FollowingStore

PREFIX = "__dc_subset_"
BATCH = 20_000  # key values per query on the source; rows per insert into the store
ROWIDS = 50_000  # rowids per read of the selected rows
HASH = "dc_subset_hash"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _row_hash(salt: str, *values: Any) -> int:
    """A keyed hash of a row's key in [0, 2**60): md5 of the salt and the values."""
    text = salt + "\x1f".join("\x00" if v is None else repr(v) for v in values)
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:15], 16)


def foreign_keys(conn: sqlite3.Connection, catalog: Catalog) -> list[ForeignKey]:
    found = []
    for (schema, name), table in sorted(catalog.tables.items()):
        by_id: dict[int, list[tuple[Any, ...]]] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({_q(name)})"):
            by_id.setdefault(row[0], []).append(row)
        for fk_id, rows in sorted(by_id.items()):
            rows.sort(key=lambda r: r[1])
            parent = (schema, rows[0][2])
            if parent not in catalog.tables:
                continue
            columns = tuple(r[3] for r in rows)
            refs = tuple(r[4] for r in rows)
            if any(ref is None for ref in refs):  # REFERENCES t: its primary key
                refs = tuple(catalog.tables[parent].primary_key)
            nullable = all((c := table.column(col)) is None or c.nullable for col in columns)
            found.append(
                ForeignKey(f"{name}_fk{fk_id}", (schema, name), columns, parent, refs, nullable)
            )
    return found


def check_where(conn: sqlite3.Connection, table: Table, where: str) -> str | None:
    try:
        conn.execute(f"SELECT 1 FROM {_q(table.name)} WHERE ({where}) LIMIT 0").fetchall()
    except sqlite3.Error as exc:
        from datacloner.core import redaction

        return redaction.database_error(exc, [c.name for c in table.columns] + where.split())
    return None


class SqliteSubsetStore(FollowingStore):
    """The selection (a :class:`datacloner.subset.select.Store`) on SQLite."""

    def __init__(
        self, source: sqlite3.Connection, catalog: Catalog, target: sqlite3.Connection, salt: str
    ) -> None:
        self.source = source
        self.target = target
        self.catalog = catalog
        self.salt = salt
        self.tables: dict[QualifiedName, str] = {}
        self.keys: dict[QualifiedName, list[str]] = {}
        source.create_function(HASH, -1, _row_hash, deterministic=True)

    # -- the store ---------------------------------------------------------------
    def prepare(self, plan: SubsetPlan) -> None:
        self._begin()
        for i, table in enumerate(sorted(plan.selected)):
            try:
                self.source.execute(f"SELECT rowid FROM {_q(table[1])} LIMIT 0").fetchall()
            except sqlite3.Error:
                raise UsageError(
                    f"subset: {table[1]} is a WITHOUT ROWID table, which a SQLite subset "
                    "cannot select rows of",
                    hint="list it under `all:` or `empty:` in subset",
                ) from None
            name = f"{PREFIX}t{i}"
            self.tables[table], self.keys[table] = name, plan.keys[table]
            keys = "".join(f", k{j}" for j in range(len(plan.keys[table])))
            self.target.execute(
                f"CREATE TABLE {_q(name)} (tid INTEGER PRIMARY KEY, up_gen INTEGER NOT NULL, "
                f"down_gen INTEGER{keys})"
            )
        self._commit()

    def _begin(self) -> None:
        if not self.target.in_transaction:
            self.target.execute("BEGIN")

    def _commit(self) -> None:
        if self.target.in_transaction:
            self.target.execute("COMMIT")

    def _insert(
        self, table: QualifiedName, rows: list[tuple[Any, ...]], gen: int, down: bool
    ) -> int:
        if not rows:
            return 0
        width = len(self.keys[table])
        names = "".join(f", k{j}" for j in range(width))
        marks = ", ?" * width
        conflict = (
            "DO UPDATE SET down_gen = excluded.down_gen WHERE down_gen IS NULL"
            if down
            else "DO NOTHING"
        )
        sql = (
            f"INSERT INTO {_q(self.tables[table])} (tid, up_gen, down_gen{names}) "
            f"VALUES (?, ?, ?{marks}) ON CONFLICT (tid) {conflict}"
        )
        before = self.target.total_changes
        self._begin()
        self.target.executemany(sql, [(r[0], gen, gen if down else None, *r[1:]) for r in rows])
        self._commit()
        return self.target.total_changes - before

    def _read(self, query: str, params: tuple[Any, ...]) -> Iterator[list[tuple[Any, ...]]]:
        cur = self.source.execute(query, params)
        while rows := cur.fetchmany(BATCH):
            yield rows

    def _hash(self, table: Table, alias: str) -> str:
        cols = table.primary_key or [c.name for c in table.columns]
        return f"{HASH}(?, {', '.join(f'{alias}.{_q(c)}' for c in cols)})"

    def _keys(self, table: QualifiedName, alias: str) -> str:
        return "".join(f", {alias}.{_q(c)}" for c in self.keys[table])

    # -- the steps ---------------------------------------------------------------
    def seed(self, table: QualifiedName, start: Start) -> int:
        t = self.catalog.tables[table]
        query = f"SELECT r.rowid{self._keys(table, 'r')} FROM {_q(t.name)} r"
        params: list[Any] = []
        conditions = []
        if start.where:
            conditions.append(f"({start.where})")
        if start.share is not None and start.share < 100:
            conditions.append(f"{self._hash(t, 'r')} < ?")
            params += [self.salt, int(start.share / 100 * 2**60)]
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        if start.count is not None:
            query += f" ORDER BY {self._hash(t, 'r')}, r.rowid LIMIT ?"
            params += [self.salt, start.count]
        added = 0
        for rows in self._read(query, tuple(params)):
            added += self._insert(table, rows, 0, down=True)
        return added

    def _values(
        self, table: QualifiedName, columns: tuple[str, ...], where: str
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Non-NULL values of ``columns`` among the store's rows of ``table``
        that ``where`` picks, a page of rows at a time (by rowid, so no cursor
        stays open while the same table is written; memory stays bounded).
        A value repeated across pages is harmless: inserts ignore duplicates."""
        keys = self.keys[table]
        picked = [f"k{keys.index(c)}" for c in columns]
        query = (
            f"SELECT tid, {', '.join(picked)} FROM {_q(self.tables[table])} WHERE {where} AND "
            + " AND ".join(f"{p} IS NOT NULL" for p in picked)
            + " AND tid > ? ORDER BY tid LIMIT ?"
        )
        last = -(2**63)
        while rows := self.target.execute(query, (last, BATCH)).fetchall():
            last = rows[-1][0]
            yield sorted({r[1:] for r in rows}, key=repr)

    def _matching(self, target: Table, columns: tuple[str, ...], cap: int | None) -> str:
        if len(columns) == 1:
            match = f"r.{_q(columns[0])} IN (SELECT value FROM json_each(?))"
        else:
            picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
            row = ", ".join("r." + _q(c) for c in columns)
            match = f"({row}) IN (SELECT {picks} FROM json_each(?))"
        keys = self._keys(target.qualified, "r")
        if cap is None:
            return f"SELECT r.rowid{keys} FROM {_q(target.name)} r WHERE {match}"
        width = len(self.keys[target.qualified])
        inner_keys = "".join(
            f", r.{_q(c)} AS k{j}" for j, c in enumerate(self.keys[target.qualified])
        )
        outer_keys = "".join(f", s.k{j}" for j in range(width))
        part = ", ".join(f"r.{_q(c)}" for c in columns)
        return (
            f"SELECT s.tid{outer_keys} FROM (SELECT r.rowid AS tid{inner_keys}, row_number() OVER "
            f"(PARTITION BY {part} ORDER BY {self._hash(target, 'r')}, r.rowid) AS n "
            f"FROM {_q(target.name)} r WHERE {match}) s WHERE s.n <= {int(cap)}"
        )

    def _follow(
        self,
        frm: QualifiedName,
        frm_cols: tuple[str, ...],
        to: QualifiedName,
        to_cols: tuple[str, ...],
        generation: str,
        gen: int,
        down: bool,
        cap: int | None,
    ) -> int:
        query = self._matching(self.catalog.tables[to], to_cols, cap)
        added = 0
        for values in self._values(frm, frm_cols, f"{generation} = {gen - 1}"):
            payload = json.dumps(
                [v[0] for v in values] if len(frm_cols) == 1 else [list(v) for v in values]
            )
            params: tuple[Any, ...] = (self.salt, payload) if cap is not None else (payload,)
            for rows in self._read(query, params):
                added += self._insert(to, rows, gen, down)
        return added

    def _up_from_whole(self, edge: Edge) -> int:
        child, parent = self.catalog.tables[edge.child], self.catalog.tables[edge.parent]
        refs = ", ".join(f"r.{_q(c)}" for c in edge.fk.ref_columns)
        cols = ", ".join(f"c.{_q(c)}" for c in edge.fk.columns)
        query = (
            f"SELECT r.rowid{self._keys(edge.parent, 'r')} FROM {_q(parent.name)} r "
            f"WHERE ({refs}) IN (SELECT {cols} FROM {_q(child.name)} c)"
        )
        added = 0
        for rows in self._read(query, ()):
            added += self._insert(edge.parent, rows, 0, down=False)
        return added

    def counts(self) -> dict[QualifiedName, int]:
        return {
            table: int(self.target.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0])
            for table, name in self.tables.items()
        }

    def whole_count(self, table: QualifiedName) -> int:
        row = self.source.execute(f"SELECT count(*) FROM {_q(table[1])}").fetchone()
        return int(row[0]) if row else 0

    # -- the copy ------------------------------------------------------------------
    def tids(self, table: QualifiedName) -> Iterator[list[int]] | None:
        if table not in self.tables:
            return None
        return self._tids(self.tables[table])

    def _tids(self, name: str) -> Iterator[list[int]]:
        last = -(2**63)
        while True:  # by ranges of rowid: no cursor stays open across the copy's writes
            rows = self.target.execute(
                f"SELECT tid FROM {_q(name)} WHERE tid > ? ORDER BY tid LIMIT ?", (last, ROWIDS)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [r[0] for r in rows]

    def finish(self, nulled: list[ForeignKey]) -> None:
        """After the rows, before indexes and triggers: a nullable key whose
        parent row was not copied becomes NULL; the store is dropped."""
        self._begin()
        for fk in nulled:
            sets = ", ".join(f"{_q(c)} = NULL" for c in fk.columns)
            present = " AND ".join(f"c.{_q(c)} IS NOT NULL" for c in fk.columns)
            joins = " AND ".join(
                f"p.{_q(p)} = c.{_q(c)}" for c, p in zip(fk.columns, fk.ref_columns, strict=True)
            )
            self.target.execute(
                f"UPDATE {_q(fk.child[1])} AS c SET {sets} WHERE {present} AND NOT EXISTS "
                f"(SELECT 1 FROM {_q(fk.parent[1])} p WHERE {joins})"
            )
        for name in self.tables.values():
            self.target.execute(f"DROP TABLE {_q(name)}")
        self._commit()
