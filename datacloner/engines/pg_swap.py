"""Generations of a PostgreSQL target: ``<db>``, ``<db>__dc_prev``,
``<db>__dc_prev2``... and the swap that rotates them in one short critical
section (renames in one transaction), the lock that keeps two refreshes of a
target from interleaving, and rollback.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from datacloner.engines.base import SwapPolicy
from datacloner.errors import Refused, UsageError

NEW_SUFFIX = "__dc_new"
PREV_SUFFIX = "__dc_prev"
TMP_SUFFIX = "__dc_tmp"
MAX_IDENT = 63  # NAMEDATALEN - 1


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


class PgGenerations:
    """Runs on a connection to the target server's maintenance database."""

    def __init__(self, admin: psycopg.Connection, target: str, keep: int = 1) -> None:
        longest = self.prev_name(target, max(keep, 1))
        if len(longest.encode()) > MAX_IDENT:
            raise UsageError(
                f"the target database name {target!r} is too long: datacloner needs the name "
                f"{longest} for its previous copies (limit {MAX_IDENT} bytes)"
            )
        self.admin = admin
        self.target = target
        self.new = target + NEW_SUFFIX

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

    def repair(self) -> list[str]:
        """A run killed inside the swap's critical section may leave the
        target refusing connections: let them in again."""
        row = self.admin.execute(
            "SELECT datallowconn FROM pg_database WHERE datname = %s", (self.target,)
        ).fetchone()
        if row is not None and not row[0]:
            self._allow(self.target, True)
            return [f"{self.target} accepted no connections after an interrupted swap: repaired"]
        return []

    def drop(self, name: str) -> None:
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(name)))

    # -- swaps ----------------------------------------------------------------
    def swap_in(self, policy: SwapPolicy) -> list[str]:
        """The new copy becomes the target; the target becomes prev, prev
        becomes prev2... keeping ``policy.keep`` previous copies."""
        if not self.exists(self.target):
            self._renames([(self.new, self.target)])
            return []
        keep = max(policy.keep, 0)
        oldest = self.prev_name(self.target, max(keep, 1))
        self.drop(oldest)
        renames = [
            (self.prev_name(self.target, g), self.prev_name(self.target, g + 1))
            for g in range(keep - 1, 0, -1)
            if self.exists(self.prev_name(self.target, g))
        ]
        renames += [(self.target, self.prev_name(self.target, 1)), (self.new, self.target)]
        warnings = self._critical(renames, policy)
        if keep == 0:
            self.drop(self.prev_name(self.target, 1))
        return warnings

    def rollback(self, policy: SwapPolicy) -> list[str]:
        """Swap the previous copy back in; the current one becomes the previous
        one, so a second rollback returns to where it started."""
        prev = self.prev_name(self.target, 1)
        if not self.exists(prev):
            raise Refused(
                f"{self.target} has no previous copy ({prev}) to roll back to",
                hint="a refresh keeps the copy it replaces; `keep: 0` keeps none",
            )
        if not self.exists(self.target):
            self._renames([(prev, self.target)])
            return []
        tmp = self.target + TMP_SUFFIX
        self.drop(tmp)
        return self._critical([(self.target, tmp), (prev, self.target), (tmp, prev)], policy)

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
                        "(on_busy: fail): the swap was not done, the target is unchanged",
                        hint="retry later, raise --drain-timeout, or set on_busy: terminate",
                    )
                return
            time.sleep(0.1)

    def _allow(self, name: str, allow: bool) -> None:
        self.admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                _ident(name), sql.SQL("true" if allow else "false")
            )
        )

    def _renames(self, renames: list[tuple[str, str]]) -> None:
        with self.admin.transaction():  # renames are transactional: all or none
            for old, new in renames:
                self.admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(_ident(old), _ident(new))
                )

    def _critical(self, renames: list[tuple[str, str]], policy: SwapPolicy) -> list[str]:
        self._drain(policy)
        ended = 0
        # Refuse new sessions only for these milliseconds; `repair` undoes it
        # if we are killed in between.
        self._allow(self.target, False)
        done = False
        try:
            # PostgreSQL 14+ can wait for the backend to be gone
            wait = ", 1000" if self.admin.info.server_version >= 140000 else ""
            for _attempt in range(100):
                row = self.admin.execute(
                    f"SELECT count(pg_terminate_backend(pid{wait})) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.target,),
                ).fetchone()
                ended += int(row[0]) if row else 0
                try:
                    self._renames(renames)
                    done = True
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.02)  # a backend still on its way out
            if not done:
                raise Refused(f"could not swap {self.target}: its sessions would not end")
        finally:
            # the old target (renamed or not) accepts sessions again
            old = dict(renames).get(self.target, self.target) if done else self.target
            if old == self.target + TMP_SUFFIX:
                old = self.prev_name(self.target, 1)
            if self.exists(old):
                self._allow(old, True)
        return [f"ended {ended} session(s) on {self.target} for the swap"] if ended else []
