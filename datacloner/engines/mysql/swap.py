"""Generations of a MySQL/MariaDB target without RENAME DATABASE.

The copies are schemas beside the target: ``app``, ``app__dc_prev``,
``app__dc_prev2``... A copy is its tables; the swap moves every table of
every generation in one ``RENAME TABLE`` statement, which MySQL and MariaDB
run atomically across schemas: the target's tables go to ``__dc_prev``, the
new copy's into the target. Views, triggers, routines and events cannot move
across schemas: each copy keeps their definitions in its
``__datacloner_objects`` table (which moves with it), and they are recreated
in the target right after the rename. Triggers cannot even be renamed across
schemas, so the target's are dropped just before the rename: from then until
they are recreated (milliseconds), writes to the target fire none.

Every schema datacloner drops holds its marker, the table
``__datacloner_marker`` naming the target it belongs to; the marker never
moves with the tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pymysql

from datacloner import __version__
from datacloner.core import guards, signals
from datacloner.core.errors import Refused, UsageError
from datacloner.engines.base import SwapPolicy
from datacloner.engines.mysql.connection import (
    MAX_IDENT,
    SYSTEM_SCHEMAS,
    error_text,
    q,
    rows,
    run,
    scalar,
    text,
)
from datacloner.engines.mysql.source import SchemaObject, schema_objects, without_definer

NEW_SUFFIX = "__dc_new"
PREV_SUFFIX = "__dc_prev"  # then __dc_prev2, __dc_prev3...
TMP_SUFFIX = "__dc_tmp"
OLD_SUFFIX = "__dc_old"
_WORKING = rf"(?:{NEW_SUFFIX}|{TMP_SUFFIX}|{OLD_SUFFIX}|{PREV_SUFFIX}\d*)"
MARKER = "__datacloner_marker"
OBJECTS = "__datacloner_objects"
MANIFEST = "__datacloner_refreshes"
_LOCK_TIMEOUT = 1205
_KILLED = (1317, 1927, 2013)
_DENIED = (1044, 1142)  # access denied to the schema, to a table


def working_name(target: str, name: str) -> bool:
    return bool(target) and re.fullmatch(re.escape(target) + _WORKING, name) is not None


def _kind_of(kind: str) -> str:
    return "routine" if kind in ("procedure", "function") else kind


def prev_name(target: str, generation: int) -> str:
    return target + PREV_SUFFIX + ("" if generation == 1 else str(generation))


class MyGenerations:
    """Runs on a connection to the target's server with no default schema."""

    def __init__(self, conn: pymysql.connections.Connection, target: str, keep: int = 1) -> None:
        if not target:
            raise UsageError(
                "the target MySQL URL names no schema (database)",
                hint="write it as mysql://user@host:3306/app_dev",
            )
        guards.refuse_system_database(target, SYSTEM_SCHEMAS, "MySQL")
        longest = prev_name(target, max(keep, 1))
        if len(longest) > MAX_IDENT:
            raise UsageError(
                f"the target schema name {target!r} is too long: datacloner needs the name "
                f"{longest} for its previous copies (limit {MAX_IDENT} characters)"
            )
        self.conn = conn
        self.target = target
        self.new = target + NEW_SUFFIX
        self.old = target + OLD_SUFFIX
        self.tmp = target + TMP_SUFFIX
        self.run = uuid.uuid4().hex[:12]

    # -- state ----------------------------------------------------------------------
    def exists(self, schema: str) -> bool:
        return bool(
            scalar(
                self.conn,
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (schema,),
            )
        )

    def has_table(self, schema: str, table: str) -> bool:
        return bool(
            scalar(
                self.conn,
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s",
                (schema, table),
            )
        )

    def existing(self) -> list[str]:
        found = [self.target] if self.exists(self.target) else []
        generation = 1
        while self.exists(prev_name(self.target, generation)):
            found.append(prev_name(self.target, generation))
            generation += 1
        return found

    def tables(self, schema: str) -> list[str]:
        """The base tables that make up a copy (the marker stays behind)."""
        return [
            text(r[0])
            for r in rows(
                self.conn,
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE') AND TABLE_NAME <> %s "
                "ORDER BY TABLE_NAME",
                (schema, MARKER),
            )
        ]

    def lock(self) -> None:
        """One run per target at a time: a named lock on the target's server,
        released when this session ends (even on kill -9)."""
        name = f"datacloner:{self.target}"
        if len(name) > 64:
            name = "datacloner:" + hashlib.sha1(self.target.encode()).hexdigest()
        if text(scalar(self.conn, "SELECT GET_LOCK(%s, 0)", (name,))) != "1":
            raise Refused(
                f"another datacloner run is refreshing or rolling back {self.target} right now",
                hint="wait for it to finish; runs of one environment never interleave",
            )

    def repair(self) -> list[str]:
        """A run killed between dropping the target's triggers and creating the
        new ones (the swap's window) left the target without some of its
        objects: recreate them from the copy's own record."""
        if not self.exists(self.target) or not self.has_table(self.target, OBJECTS):
            return []
        live = set(self.live_objects(self.target, ("trigger", "view", "routine", "event")))
        missing = [o for o in self.objects(self.target) if (o.kind, o.name) not in live]
        if not missing:
            return []
        try:
            for kinds in (("view",), ("routine", "event", "trigger")):
                self.create_objects(self.target, missing, kinds)
        finally:
            run(self.conn, "USE information_schema")
        names = ", ".join(f"{o.kind} {o.name}" for o in missing)
        return [f"recreated in {self.target} what an interrupted run left missing: {names}"]

    # -- the marker -------------------------------------------------------------------
    def ours(self, schema: str) -> bool:
        if not self.has_table(schema, MARKER):
            return False
        try:
            info = scalar(self.conn, f"SELECT info FROM {q(schema)}.{q(MARKER)} LIMIT 1")
            marker = json.loads(text(info or "{}"))
        except (pymysql.err.MySQLError, ValueError):
            return False
        return isinstance(marker, dict) and marker.get("target") == self.target

    def create(self, schema: str, charset: tuple[str, str] | None = None) -> None:
        """A schema of our own, marked right after it is created: a kill in
        between leaves an unmarked schema, which the next run names rather
        than drops."""
        options = f" CHARACTER SET {charset[0]} COLLATE {charset[1]}" if charset else ""
        run(self.conn, f"CREATE DATABASE {q(schema)}{options}")
        run(self.conn, f"CREATE TABLE {q(schema)}.{q(MARKER)} (info TEXT NOT NULL) ENGINE=InnoDB")
        info = {
            "target": self.target,
            "run": self.run,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "version": __version__,
        }
        run(
            self.conn,
            f"INSERT INTO {q(schema)}.{q(MARKER)} (info) VALUES (%s)",
            (json.dumps(info, sort_keys=True),),
        )

    def _not_ours(self, schema: str) -> Refused:
        return Refused(
            f"{schema} exists but has no datacloner marker for {self.target}: datacloner did "
            "not make it and will not drop it or move its tables; the target and its previous "
            "copies are unchanged",
            hint=f"if it is not needed, remove it by hand (DROP DATABASE {q(schema)};) or "
            "rename it, then run again",
        )

    def drop_ours(self, schema: str) -> None:
        if not self.exists(schema):
            return
        if not self.ours(schema):
            raise self._not_ours(schema)
        run(self.conn, f"DROP DATABASE {q(schema)}")

    def ensure(self, schema: str, emptied: bool = False) -> None:
        """``schema`` exists, is ours, and is empty (or ``emptied`` by an earlier
        move of the same RENAME)."""
        if not self.exists(schema):
            self.create(schema)
        elif not self.ours(schema):
            raise self._not_ours(schema)
        elif not emptied and self.tables(schema):
            raise Refused(
                f"{schema} should be empty before the swap but holds tables: nothing was changed",
                hint=f"check what is in it; if it is not needed, DROP DATABASE {q(schema)};",
            )

    # -- objects: views, triggers, routines, events ---------------------------------------
    def objects(self, schema: str) -> list[SchemaObject]:
        """The copy's recorded objects, or (a schema we did not make) its live ones."""
        if self.has_table(schema, OBJECTS):
            return [
                SchemaObject(text(k), text(n), text(m), text(s))
                for k, n, m, s in rows(
                    self.conn,
                    f"SELECT kind, name, sql_mode, statement FROM {q(schema)}.{q(OBJECTS)} "
                    "ORDER BY id",
                )
            ]
        return schema_objects(self.conn, schema)

    def record_objects(self, schema: str, objects: list[SchemaObject]) -> None:
        run(
            self.conn,
            f"CREATE TABLE IF NOT EXISTS {q(schema)}.{q(OBJECTS)} (id INT AUTO_INCREMENT "
            "PRIMARY KEY, kind VARCHAR(16) NOT NULL, name VARCHAR(64) NOT NULL, "
            "sql_mode TEXT NOT NULL, statement LONGTEXT NOT NULL) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        )
        run(self.conn, f"DELETE FROM {q(schema)}.{q(OBJECTS)}")
        if objects:
            with self.conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {q(schema)}.{q(OBJECTS)} (kind, name, sql_mode, statement) "
                    "VALUES (%s, %s, %s, %s)",
                    [(o.kind, o.name, o.sql_mode, o.statement) for o in objects],
                )

    def live_objects(self, schema: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if "trigger" in kinds:
            found += [
                ("trigger", text(r[0]))
                for r in rows(
                    self.conn,
                    "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA = %s",
                    (schema,),
                )
            ]
        if "view" in kinds:
            found += [
                ("view", text(r[0]))
                for r in rows(
                    self.conn,
                    "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s",
                    (schema,),
                )
            ]
        if "routine" in kinds:
            found += [
                (text(r[1]).lower(), text(r[0]))
                for r in rows(
                    self.conn,
                    "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
                    "WHERE ROUTINE_SCHEMA = %s",
                    (schema,),
                )
            ]
        if "event" in kinds:
            found += [
                ("event", text(r[0]))
                for r in rows(
                    self.conn,
                    "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
                    (schema,),
                )
            ]
        return found

    def drop_objects(self, schema: str, kinds: tuple[str, ...]) -> None:
        for kind, name in self.live_objects(schema, kinds):
            run(self.conn, f"DROP {kind.upper()} IF EXISTS {q(schema)}.{q(name)}")

    def create_objects(
        self, schema: str, objects: list[SchemaObject], kinds: tuple[str, ...]
    ) -> None:
        """Create ``objects`` of ``kinds`` in ``schema``, each under its own
        sql_mode; views that read other views are retried until all exist."""
        run(self.conn, f"USE {q(schema)}")
        mode = scalar(self.conn, "SELECT @@SESSION.sql_mode")
        try:
            pending = [o for o in objects if _kind_of(o.kind) in kinds]
            while pending:
                failed: list[SchemaObject] = []
                error: Exception | None = None
                for obj in pending:
                    run(self.conn, "SET SESSION sql_mode = %s", (obj.sql_mode or text(mode),))
                    statement = without_definer(obj.statement)
                    if obj.kind == "view":
                        statement = re.sub(r"^CREATE\s", "CREATE OR REPLACE ", statement, count=1)
                    try:
                        run(self.conn, statement)
                    except pymysql.err.MySQLError as exc:
                        if obj.kind != "view":
                            raise
                        failed.append(obj)
                        error = exc
                if len(failed) == len(pending):
                    assert error is not None
                    raise error
                pending = failed
        finally:
            run(self.conn, "SET SESSION sql_mode = %s", (text(mode),))

    # -- swaps ------------------------------------------------------------------------
    def swap_in(self, policy: SwapPolicy) -> list[str]:
        """The new copy's tables into the target, the target's into
        ``__dc_prev``, ``__dc_prev`` into ``__dc_prev2``..., in one RENAME."""
        keep = max(policy.keep, 0)
        warnings: list[str] = []
        self.drop_ours(self.old)
        if not self.exists(self.target):
            self.create(self.target)
        moves: list[tuple[str, str]] = []
        doomed: list[str] = []
        oldest = prev_name(self.target, max(keep, 1))
        if self.exists(oldest) and keep > 0:
            if not self.ours(oldest):
                raise self._not_ours(oldest)
            self.ensure(self.old)
            moves.append((oldest, self.old))
            doomed.append(self.old)
        for g in range(keep - 1, 0, -1):
            name = prev_name(self.target, g)
            if self.exists(name):
                if not self.ours(name):
                    raise self._not_ours(name)
                dest = prev_name(self.target, g + 1)
                self.ensure(dest, emptied=any(src == dest for src, _ in moves))
                moves.append((name, dest))
        current = self.tables(self.target)
        if current:
            out = prev_name(self.target, 1) if keep > 0 else self.old
            self.ensure(out, emptied=any(src == out for src, _ in moves))
            if out == self.old:
                doomed.append(self.old)
            if not self.has_table(self.target, OBJECTS):
                # a schema we did not fill: its objects travel with its tables
                self.record_objects(self.target, schema_objects(self.conn, self.target))
                warnings.append(
                    f"{self.target} was not made by datacloner: its tables are now in {out}"
                    + (" and dropped (keep: 0)" if keep == 0 else "")
                )
            moves.append((self.target, out))
        moves.append((self.new, self.target))
        incoming = self.objects(self.new)
        self.drop_objects(self.new, ("trigger", "view"))
        warnings += self._exchange(moves, incoming, policy)
        for name in (*doomed, self.new):
            with contextlib.suppress(Refused, pymysql.err.MySQLError):
                self.drop_ours(name)
        return warnings

    def rollback(self, policy: SwapPolicy) -> list[str]:
        prev = prev_name(self.target, 1)
        if not self.exists(prev) or not self.tables(prev):
            raise Refused(
                f"{self.target} has no previous copy ({prev}) to roll back to",
                hint="a refresh keeps the copy it replaces; `keep: 0` keeps none",
            )
        if not self.ours(prev):
            raise self._not_ours(prev)
        self.ensure(self.tmp)
        if not self.has_table(self.target, OBJECTS):
            self.record_objects(self.target, schema_objects(self.conn, self.target))
        moves = [(self.target, self.tmp), (prev, self.target), (self.tmp, prev)]
        warnings = self._exchange(moves, self.objects(prev), policy)
        with contextlib.suppress(Refused, pymysql.err.MySQLError):
            self.drop_ours(self.tmp)
        return warnings

    def _exchange(
        self, moves: list[tuple[str, str]], incoming: list[SchemaObject], policy: SwapPolicy
    ) -> list[str]:
        """Drop the target's triggers, move every table in one RENAME TABLE,
        then give the target the incoming copy's objects."""
        pairs: list[str] = []
        planned: dict[str, list[str]] = {}
        for source, dest in moves:
            tables = planned.setdefault(source, self.tables(source))
            pairs += [f"{q(source)}.{q(t)} TO {q(dest)}.{q(t)}" for t in tables]
            # a schema emptied earlier in the statement receives these
            planned[dest] = planned.get(dest, tables)
        statement = "RENAME TABLE " + ", ".join(pairs)
        outgoing = self.objects(self.target) if self.has_table(self.target, OBJECTS) else []
        warnings: list[str] = []
        with signals.held(commits=True):  # a stop waits: the whole swap or none
            # the window opens: dropping the triggers waits for the same metadata locks as RENAME
            target_tables = planned.get(self.target, [])
            warnings += self._busy(policy, lambda: self._drop_triggers(target_tables))
            try:
                warnings += self._busy(policy, lambda: run(self.conn, statement))
            except BaseException:
                with contextlib.suppress(Exception):
                    self.create_objects(self.target, outgoing, ("trigger",))
                raise
            try:
                names = {(o.kind, o.name) for o in incoming}
                self.create_objects(self.target, incoming, ("view",))
                for kind, name in self.live_objects(self.target, ("view", "routine", "event")):
                    if kind == "view" and (kind, name) not in names or kind != "view":
                        run(self.conn, f"DROP {kind.upper()} IF EXISTS {q(self.target)}.{q(name)}")
                self.create_objects(self.target, incoming, ("routine", "event", "trigger"))
            except pymysql.err.MySQLError as exc:
                warnings.append(
                    f"the copy is in place but recreating its views, routines or triggers "
                    f"failed: {error_text(exc)}"
                )
            finally:
                run(self.conn, "USE information_schema")
        return warnings

    def _drop_triggers(self, tables: list[str]) -> None:
        """The target's triggers (on ``tables``), dropped once those tables are
        ours. The wait is in ``LOCK TABLES ... WRITE``, not in ``DROP TRIGGER``:
        a statement a killed run left waiting still runs when the lock comes,
        and a lock taken then dies with the session, where a drop would be
        done. The triggers are listed again under the lock: the drop removes
        what is there then."""
        if not tables or not self.live_objects(self.target, ("trigger",)):
            return
        locks = ", ".join(f"{q(self.target)}.{q(t)} WRITE" for t in tables)
        try:
            run(self.conn, f"LOCK TABLES {locks}")
        except pymysql.err.MySQLError as exc:
            if exc.args[0] not in _DENIED:
                raise
            # no LOCK TABLES privilege: the drop waits itself (docs/mysql.md)
            self.drop_objects(self.target, ("trigger",))
            return
        try:
            self.drop_objects(self.target, ("trigger",))
        finally:
            run(self.conn, "UNLOCK TABLES")

    def _busy(self, policy: SwapPolicy, action: Callable[[], None]) -> list[str]:
        """LOCK TABLES and RENAME TABLE wait for the metadata locks of sessions
        using the tables; ``on_busy`` says what then: wait, fail, or end them."""
        wait = 31536000 if policy.on_busy == "wait" else max(1, int(policy.drain_timeout))
        run(self.conn, "SET SESSION lock_wait_timeout = %s", (wait,))
        ended = 0
        for _attempt in range(20):
            try:
                action()
                break
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != _LOCK_TIMEOUT or policy.on_busy == "wait":
                    raise Refused(
                        f"the swap of {self.target} failed: {error_text(exc)}; the target and "
                        "its previous copies are unchanged",
                    ) from None
                if policy.on_busy == "fail":
                    raise Refused(
                        f"{self.target} was still in use after {policy.drain_timeout:g}s "
                        "(on_busy: fail): the swap was not done; the target and its previous "
                        "copies are unchanged",
                        hint="retry later, raise --drain-timeout, or set on_busy: terminate",
                    ) from None
                ended += self._end_sessions()
                run(self.conn, "SET SESSION lock_wait_timeout = 2")
        else:
            raise Refused(
                f"could not swap {self.target}: its sessions would not end; the target and its "
                "previous copies are unchanged"
            )
        return [f"ended {ended} session(s) on {self.target} for the swap"] if ended else []

    def _end_sessions(self) -> int:
        """End the sessions whose default schema is the target (those holding
        its tables' metadata locks, as a rule)."""
        ended = 0
        for (pid,) in rows(
            self.conn,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
            (self.target,),
        ):
            with contextlib.suppress(pymysql.err.MySQLError):
                run(self.conn, f"KILL {int(pid)}")
                ended += 1
        time.sleep(0.05)
        return ended

    def manifests(self, schema: str) -> list[dict[str, Any]]:
        if not self.has_table(schema, MANIFEST):
            return []
        return [
            json.loads(text(r[0]))
            for r in rows(
                self.conn, f"SELECT manifest FROM {q(schema)}.{q(MANIFEST)} ORDER BY id DESC"
            )
        ]
