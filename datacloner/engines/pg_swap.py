"""Generations of a PostgreSQL target: ``<db>``, ``<db>__dc_prev``,
``<db>__dc_prev2``... and the swap that rotates them in one short critical
section (renames in one transaction), the lock that keeps two refreshes of a
target from interleaving, and rollback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from datacloner.engines.base import SwapPolicy
from datacloner.errors import Refused, UsageError
from datacloner.faults import checkpoint

NEW_SUFFIX = "__dc_new"
PREV_SUFFIX = "__dc_prev"
TMP_SUFFIX = "__dc_tmp"
MAX_IDENT = 63  # NAMEDATALEN - 1


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

    def _renames(self, renames: list[tuple[str, str]]) -> None:
        with self.admin.transaction():  # renames are transactional: all or none
            for old, new in renames:
                self.admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(_ident(old), _ident(new))
                )
                checkpoint("swap")

    def _critical(self, renames: list[tuple[str, str]], policy: SwapPolicy) -> list[str]:
        """End the target's sessions and rename, in one transaction: a kill at
        any point leaves either the old or the new copy live, never neither.

        The rename locks the database against new sessions, then waits for the
        ones already in it; a second connection keeps ending those meanwhile
        (a pool reconnects within milliseconds). No ALLOW_CONNECTIONS juggling:
        a kill in between would leave the live target refusing sessions."""
        self._drain(policy)
        stop = threading.Event()
        ended = [0]
        killer = self.connect_admin()

        def keep_ending() -> None:
            while not stop.is_set():
                row = killer.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.target,),
                ).fetchone()
                ended[0] += int(row[0]) if row else 0
                stop.wait(0.05)

        thread = threading.Thread(target=keep_ending, daemon=True)
        thread.start()
        try:
            for _attempt in range(20):
                try:
                    self._renames(renames)
                    break
                except psycopg.errors.ObjectInUse:
                    continue  # a session outlived the server's 5 s wait: again
            else:
                raise Refused(f"could not swap {self.target}: its sessions would not end")
        finally:
            stop.set()
            thread.join()
            killer.close()
        return [f"ended {ended[0]} session(s) on {self.target} for the swap"] if ended[0] else []
