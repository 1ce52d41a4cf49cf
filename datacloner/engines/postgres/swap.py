"""Generations of a PostgreSQL target: ``<db>``, ``<db>__dc_prev``,
``<db>__dc_prev2``... and the swap that rotates them in one short critical
section (renames in one transaction), the lock that keeps two refreshes of a
target from interleaving, and rollback.

Every database datacloner drops or renames, other than the live target, must
carry its marker: a ``COMMENT ON DATABASE`` that names the target it belongs
to. The comment lives on the database itself (it follows renames), is read
from the maintenance database without connecting to a database that may not
be ours, and is written in the same transaction as the renames.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from datacloner import __version__
from datacloner.core import guards, redaction, signals
from datacloner.core.errors import Refused, UsageError
from datacloner.engines.base import SwapPolicy

# What a refresh or rollback of a target may create, rename or drop, named
# after the target; config refuses a source or environment that is one of them.
NEW_SUFFIX = "__dc_new"
PREV_SUFFIX = "__dc_prev"  # then __dc_prev2, __dc_prev3...
TMP_SUFFIX = "__dc_tmp"
OLD_SUFFIX = "__dc_old"  # the copy a swap pushed out, dropped once the swap committed
_WORKING = rf"(?:{NEW_SUFFIX}|{TMP_SUFFIX}|{OLD_SUFFIX}|{PREV_SUFFIX}\d*)"
MAX_IDENT = 63  # NAMEDATALEN - 1
MARK = "datacloner:"  # the comment of every database datacloner made
SYSTEM_DATABASES = ("template0", "template1", "postgres")


def working_name(target: str, name: str) -> bool:
    """``name`` is one of the databases a run on ``target`` may create, rename or drop."""
    return bool(target) and re.fullmatch(re.escape(target) + _WORKING, name) is not None


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


class PgGenerations:
    """Runs on a connection to the target server's maintenance database."""

    def __init__(
        self,
        admin: psycopg.Connection,
        target: str,
        keep: int = 1,
        connect_admin: Callable[[], psycopg.Connection] | None = None,
    ) -> None:
        if not target:
            raise UsageError("the target URL names no database")
        # the maintenance database too: datacloner works from it
        system = (*SYSTEM_DATABASES, admin.info.dbname)
        guards.refuse_system_database(target, system, "PostgreSQL")
        longest = self.prev_name(target, max(keep, 1))
        if len(longest.encode()) > MAX_IDENT:
            raise UsageError(
                f"the target database name {target!r} is too long: datacloner needs the name "
                f"{longest} for its previous copies (limit {MAX_IDENT} bytes)"
            )
        self.admin = admin
        self.connect_admin = connect_admin or (lambda: admin)
        self.target = target
        self.new = target + NEW_SUFFIX
        self.old = target + OLD_SUFFIX
        self.tmp = target + TMP_SUFFIX
        self.run = uuid.uuid4().hex[:12]
        self.swapped = False  # the renames committed: the new copy is the target

    @staticmethod
    def prev_name(target: str, generation: int) -> str:
        return target + PREV_SUFFIX + ("" if generation == 1 else str(generation))

    # -- state ----------------------------------------------------------------
    def exists(self, name: str) -> bool:
        row = self.admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return row.fetchone() is not None

    def existing(self) -> list[str]:
        """The target and its previous copies that exist, newest first."""
        rows = self.admin.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
            (self.target, self.target.replace("_", "\\_") + "\\_\\_dc\\_prev%"),
        ).fetchall()
        names = {r[0] for r in rows}
        found = [self.target] if self.target in names else []
        generation = 1
        while self.prev_name(self.target, generation) in names:
            found.append(self.prev_name(self.target, generation))
            generation += 1
        return found

    def lock(self) -> None:
        """One operation per target at a time, across hosts: a session-level
        advisory lock on the target's server, released when we disconnect."""
        got = self.admin.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
            (f"datacloner:{self.target}",),
        ).fetchone()
        if not (got and got[0]):
            raise Refused(
                f"another datacloner run is refreshing or rolling back {self.target} right now",
                hint="wait for it to finish; runs of one environment never interleave",
            )

    # -- the marker -------------------------------------------------------------
    def _comment(self, name: str) -> str | None:
        row = self.admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
        return row[0] if row else None

    def ours(self, name: str) -> bool:
        """``name`` carries the marker datacloner wrote for this target."""
        comment = self._comment(name) or ""
        if not comment.startswith(MARK):
            return False
        try:
            marker = json.loads(comment[len(MARK) :])
        except ValueError:
            return False
        return isinstance(marker, dict) and marker.get("target") == self.target

    def _marker(self, name: str) -> sql.Composed:
        found: dict[str, Any] = {
            "target": self.target,
            "run": self.run,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "version": __version__,
        }
        before = self._comment(name)
        if before and not before.startswith(MARK):
            found["comment"] = before  # a hand-made database's own comment, kept
        text = MARK + json.dumps(found, sort_keys=True)
        return sql.SQL("COMMENT ON DATABASE {} IS {}").format(_ident(name), sql.Literal(text))

    def mark(self, name: str) -> None:
        """Right after ``CREATE DATABASE``: a kill in between leaves an unmarked
        ``__dc_new``, which the next run names instead of dropping."""
        self.admin.execute(self._marker(name))

    def _not_ours(self, name: str) -> Refused:
        quoted = _ident(name).as_string(self.admin)
        return Refused(
            f"{name} exists but has no datacloner marker for {self.target}: datacloner did not "
            "make it and will not drop or rename it; the target and its previous copies are "
            "unchanged",
            hint=f"if it is not needed, remove it by hand (DROP DATABASE {quoted};) or rename "
            "it, then run again",
        )

    def drop(self, name: str) -> None:
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(name)))

    def drop_ours(self, name: str) -> None:
        """Drop ``name`` if it exists and carries our marker; refuse otherwise."""
        if not self.exists(name):
            return
        if not self.ours(name):
            raise self._not_ours(name)
        self.drop(name)

    def clear_leftovers(self, *names: str) -> None:
        """What a killed run left: dropped if ours, else named and refused."""
        for name in names:
            self.drop_ours(name)

    # -- swaps ----------------------------------------------------------------
    def _rotation(self, keep: int) -> tuple[list[tuple[str, str]], list[str]]:
        """The renames that make room for the replaced target as ``__dc_prev``,
        and what is dropped after the swap committed. The oldest kept copy is
        renamed to ``__dc_old`` in the swap's transaction, never dropped before
        it: a refused or killed swap leaves every previous copy as it was."""
        renames: list[tuple[str, str]] = []
        doomed: list[str] = []
        oldest = self.prev_name(self.target, max(keep, 1))
        if self.exists(oldest):
            renames.append((oldest, self.old))
            doomed.append(self.old)
        renames += [
            (self.prev_name(self.target, g), self.prev_name(self.target, g + 1))
            for g in range(keep - 1, 0, -1)
            if self.exists(self.prev_name(self.target, g))
        ]
        if keep == 0:
            doomed.append(self.prev_name(self.target, 1))  # the replaced target
        for name, _ in renames:
            if not self.ours(name):
                raise self._not_ours(name)
        return renames, doomed

    def check_rotation(self, keep: int) -> None:
        """Before a long build: the copies the swap will rename are ours."""
        if self.exists(self.target):
            self._rotation(max(keep, 0))

    def swap_in(self, policy: SwapPolicy) -> list[str]:
        """The new copy becomes the target; the target becomes prev, prev
        becomes prev2... keeping ``policy.keep`` previous copies."""
        self.clear_leftovers(self.old)
        if not self.exists(self.target):
            self._renames([(self.new, self.target)], [])
            self.swapped = True
            return []
        keep = max(policy.keep, 0)
        renames, doomed = self._rotation(keep)
        prev = self.prev_name(self.target, 1)
        renames += [(self.target, prev), (self.new, self.target)]
        warnings: list[str] = []
        marks: list[str] = []
        if not self.ours(self.target):
            # made by hand or by an older datacloner: it becomes a previous copy
            # like any other, marked now so a later rotation may drop it
            marks.append(prev)
            warnings.append(
                f"{self.target} was not made by datacloner: it was replaced and dropped (keep: 0)"
                if keep == 0
                else f"{self.target} was not made by datacloner: it is now {prev}, dropped when "
                f"a later refresh rotates it out (keep: {keep})"
            )
        warnings += self._critical(renames, policy, marks)
        self.swapped = True
        for name in doomed:
            warnings += self._drop_after_swap(name)
        return warnings

    def _drop_after_swap(self, name: str) -> list[str]:
        try:
            self.drop(name)
        except psycopg.Error as exc:
            message = redaction.database_error(exc)
            return [f"could not drop {name} after the swap ({message}); the next run drops it"]
        return []

    def rollback(self, policy: SwapPolicy) -> list[str]:
        """Swap the previous copy back in; the current one becomes the previous
        one, so a second rollback returns to where it started."""
        prev = self.prev_name(self.target, 1)
        if not self.exists(prev):
            raise Refused(
                f"{self.target} has no previous copy ({prev}) to roll back to",
                hint="a refresh keeps the copy it replaces; `keep: 0` keeps none",
            )
        if not self.ours(prev):
            raise self._not_ours(prev)
        if not self.exists(self.target):
            self._renames([(prev, self.target)], [])
            return []
        self.clear_leftovers(self.tmp)
        marks = [] if self.ours(self.target) else [prev]
        renames = [(self.target, self.tmp), (prev, self.target), (self.tmp, prev)]
        return self._critical(renames, policy, marks)

    # -- the critical section -----------------------------------------------------
    def _sessions(self) -> int:
        row = self.admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.target,),
        ).fetchone()
        return int(row[0]) if row else 0

    def _drain(self, policy: SwapPolicy) -> None:
        deadline = time.monotonic() + policy.drain_timeout
        while self._sessions():
            if policy.on_busy != "wait" and time.monotonic() >= deadline:
                if policy.on_busy == "fail":
                    raise Refused(
                        f"{self.target} still had sessions after {policy.drain_timeout:g}s "
                        "(on_busy: fail): the swap was not done; the target and its previous "
                        "copies are unchanged",
                        hint="retry later, raise --drain-timeout, or set on_busy: terminate",
                    )
                return
            time.sleep(0.1)

    def _renames(self, renames: list[tuple[str, str]], marks: list[str]) -> None:
        # renames are transactional: all or none; a stop signal waits for the end
        with signals.held(commits=True), self.admin.transaction():
            for old, new in renames:
                self.admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(_ident(old), _ident(new))
                )
            for name in marks:  # in the same transaction: marked iff renamed
                self.admin.execute(self._marker(name))

    def _critical(
        self, renames: list[tuple[str, str]], policy: SwapPolicy, marks: list[str]
    ) -> list[str]:
        """End the target's sessions and rename, in one transaction: a kill at
        any point leaves either the old or the new copy live, never neither.

        The rename locks the database against new sessions, then waits for the
        ones already in it; a second connection keeps ending those meanwhile
        (a pool reconnects within milliseconds), and those of the previous
        copies being renamed. No ALLOW_CONNECTIONS juggling: a kill in between
        would leave the live target refusing sessions."""
        self._drain(policy)
        stop = threading.Event()
        ended = [0]
        killer = self.connect_admin()
        renamed = [old for old, _ in renames]

        def keep_ending() -> None:
            while not stop.is_set():
                rows = killer.execute(
                    "SELECT datname, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                    (renamed,),
                ).fetchall()
                ended[0] += sum(1 for name, done in rows if done and name == self.target)
                stop.wait(0.05)

        thread = threading.Thread(target=keep_ending, daemon=True)
        thread.start()
        try:
            for _attempt in range(20):
                try:
                    self._renames(renames, marks)
                    break
                except psycopg.errors.ObjectInUse:
                    continue  # a session outlived the server's 5 s wait: again
            else:
                raise Refused(
                    f"could not swap {self.target}: its sessions would not end; the target and "
                    "its previous copies are unchanged"
                )
        finally:
            stop.set()
            thread.join()
            killer.close()
        return [f"ended {ended[0]} session(s) on {self.target} for the swap"] if ended[0] else []
