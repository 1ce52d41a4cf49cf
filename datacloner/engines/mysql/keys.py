"""Secondary keys and foreign keys added after the rows, as mydumper's
``--innodb-optimize-keys`` does: InnoDB builds an index added to a full
table in one sorted pass, where a load into a table that has it inserts
every row into it at a random place (a unique email, an index on a
timestamp). A table's keys are added by the session that loaded it, right
after its rows (so ``--jobs`` builds them in parallel); foreign keys last,
when every table has its keys, with ``foreign_key_checks`` off (no check is
made: the health check's anti-join checks them).

Kept in ``CREATE TABLE``: the primary key, FULLTEXT and SPATIAL keys (adding
them later rebuilds the table), a key on an AUTO_INCREMENT column (the
column needs it), CHECK constraints, and every key of a table without a
primary key or with partitions (a unique key may be its clustered index).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import pymysql

from datacloner.core.errors import Refused
from datacloner.engines.mysql.connection import error_text, q, run

_KEY = re.compile(r"^  (UNIQUE )?KEY `")
_FOREIGN = re.compile(r"^  CONSTRAINT `(?:[^`]|``)*` FOREIGN KEY ")
_KEYS_HINT = (
    "the target was not changed; a masked value may repeat in a unique key: "
    "give that column's rule `unique: true`"
)
_FOREIGN_HINT = (
    "the target was not changed; the referenced table's key may be missing or "
    "differ from the source's: check that table's rules (`skip`, a masked key column)"
)
_AUTO = re.compile(r"^  `((?:[^`]|``)*)` .*\bAUTO_INCREMENT\b")


def split_keys(statement: str) -> tuple[str, list[str], list[str]]:
    """``SHOW CREATE TABLE`` without the keys added later; those keys and the
    foreign keys, each as an ``ADD`` clause's body."""
    lines = statement.split("\n")
    # the partition clause follows the line that closes the column list, over
    # several lines (MariaDB: " PARTITION BY ..." then "(PARTITION ...)")
    close = next((i for i, line in enumerate(lines) if line.startswith(")")), len(lines))
    partitioned = any(re.search(r"\bPARTITION BY\b", line) for line in lines[close:])
    if "  PRIMARY KEY (" not in statement or partitioned:
        return statement, [], []
    auto = {m.group(1).replace("``", "`") for m in map(_AUTO.match, lines) if m}
    kept: list[str] = []
    keys: list[str] = []
    foreign: list[str] = []
    for line in lines:
        body = line.rstrip(",")
        if _FOREIGN.match(line):
            foreign.append(body.strip())
        elif _KEY.match(line) and not _names_any(body, auto):
            keys.append(body.strip())
        else:
            kept.append(line)
    if not keys and not foreign:
        return statement, [], []
    # the line before ") ENGINE=..." loses its comma when the keys after it went
    close = next(i for i in range(len(kept) - 1, -1, -1) if kept[i].startswith(")"))
    kept[close - 1] = kept[close - 1].rstrip(",")
    return "\n".join(kept), keys, foreign


def _names_any(key: str, columns: set[str]) -> bool:
    listed = key[key.index("(") :]
    return any(f"`{c.replace('`', '``')}`" in listed for c in columns)


@dataclass
class Deferred:
    """The keys of each table of the new copy still to add; shared by the
    writers of one build."""

    schema: str
    keys: dict[str, list[str]] = field(default_factory=dict)
    foreign: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_keys(self, conn: pymysql.connections.Connection, table: str) -> None:
        with self.lock:
            clauses = self.keys.pop(table, [])
        if clauses:
            self._alter(conn, table, clauses, "its keys", _KEYS_HINT)

    def add_rest(self, conn: pymysql.connections.Connection) -> None:
        """Keys of tables no writer loaded, then every foreign key."""
        for table in list(self.keys):
            self.add_keys(conn, table)
        with self.lock:
            foreign, self.foreign = self.foreign, {}
        for table, clauses in foreign.items():
            self._alter(conn, table, clauses, "its foreign keys", _FOREIGN_HINT)

    def _alter(
        self,
        conn: pymysql.connections.Connection,
        table: str,
        clauses: list[str],
        what: str,
        hint: str,
    ) -> None:
        try:
            run(
                conn,
                f"ALTER TABLE {q(self.schema)}.{q(table)} "
                + ", ".join(f"ADD {c}" for c in clauses),
            )
        except pymysql.err.MySQLError as exc:
            raise Refused(
                f"adding {what} to {table} in the new copy failed: {error_text(exc)}",
                hint=hint,
            ) from None
