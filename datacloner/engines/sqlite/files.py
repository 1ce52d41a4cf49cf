"""Generations of a SQLite target file: ``dev.db``, ``dev.db.prev``,
``dev.db.prev2``... rotated with hard links and renames so the target path
never goes missing, plus a lock file so two runs never interleave.

No previous copy is replaced before the new file is in place: the replaced
target waits as ``dev.db.dc_hold`` (a hard link) until then, and a run killed
while the copies move up is finished by the next one."""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import os
import re
import shutil
from pathlib import Path

from datacloner.core import signals
from datacloner.core.errors import Refused

# What a refresh or rollback of a target may create, rename or drop, named
# after the target file; config refuses a source or environment that is one.
NEW_SUFFIX = ".dc_new"
PREV_SUFFIX = ".prev"  # then .prev2, .prev3...
TMP_SUFFIX = ".dc_tmp"
HOLD_SUFFIX = ".dc_hold"
LOCK_SUFFIX = ".lock"
_WORKING = (
    rf"(?:{re.escape(NEW_SUFFIX)}(?:-journal|-wal|-shm)?|{re.escape(TMP_SUFFIX)}"
    rf"|{re.escape(HOLD_SUFFIX)}|{re.escape(PREV_SUFFIX)}\d*|{re.escape(LOCK_SUFFIX)})"
)


def working_name(target: str, name: str) -> bool:
    """``name`` is one of the files a run on ``target`` may create, rename or drop."""
    return bool(target) and re.fullmatch(re.escape(target) + _WORKING, name) is not None


def _same(a: Path, b: Path) -> bool:
    """One file under two names (or, without hard links, an identical copy)."""
    if not (a.exists() and b.exists()):
        return False
    return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)


class FileGenerations:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.new = target.with_name(target.name + NEW_SUFFIX)
        self.hold = target.with_name(target.name + HOLD_SUFFIX)
        self.tmp = target.with_name(target.name + TMP_SUFFIX)
        self._lock: int | None = None

    def prev(self, generation: int) -> Path:
        suffix = PREV_SUFFIX + ("" if generation == 1 else str(generation))
        return self.target.with_name(self.target.name + suffix)

    def existing(self) -> list[Path]:
        found = [self.target] if self.target.exists() else []
        generation = 1
        while self.prev(generation).exists():
            found.append(self.prev(generation))
            generation += 1
        return found

    def lock(self) -> None:
        path = self.target.with_name(self.target.name + LOCK_SUFFIX)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise Refused(
                    f"another datacloner run is refreshing or rolling back {self.target} right now",
                    hint="wait for it to finish; runs of one environment never interleave",
                ) from None
            # the run that held it removes the file on its way out (unlock): a lock
            # on a removed file guards nothing, so lock the file now in place
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self._lock = fd  # released when the process ends, even on kill -9

    def unlock(self) -> None:
        if self._lock is not None:
            # removed while still held, so no lock file is left beside the target
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.target.with_name(self.target.name + ".lock"))
            os.close(self._lock)
            self._lock = None

    def remove_new(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(self.new) + suffix)

    def _link(self, source: Path, dest: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        try:
            os.link(source, dest)
        except OSError:  # no hard links here (some network file systems)
            shutil.copy2(source, dest)

    def swap_in(self, keep: int) -> None:
        fd = os.open(self.new, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with signals.held(commits=True):  # a stop signal waits: the whole swap or none
            kept = self.target.exists() and keep > 0
            if kept:
                # a link, not a rename: the target path is never missing
                self._link(self.target, self.hold)
            os.replace(self.new, self.target)  # the new copy is in place
            if kept:
                self._rotate(keep)

    def _rotate(self, keep: int) -> None:
        """The held copy becomes ``.prev``, the others move up one, and the
        oldest kept copy is replaced only now. Moving up stops at the first
        free slot, so a run killed part-way is finished, not repeated."""
        free = next((g for g in range(1, keep + 1) if not self.prev(g).exists()), keep)
        for generation in range(free - 1, 0, -1):
            os.replace(self.prev(generation), self.prev(generation + 1))
        os.replace(self.hold, self.prev(1))

    def recover(self, keep: int) -> None:
        """Finish what a killed run left, before anything else moves.

        ``.dc_hold``: a swap killed before the new file was in place leaves a
        second name of the target (removed); after it, the replaced copy, which
        becomes ``.prev`` as the swap would have made it. ``.dc_tmp``: a rollback
        killed between its renames leaves the replaced copy; it is the previous
        copy, or a second name of the target."""
        if self.hold.exists():
            if keep == 0 or _same(self.hold, self.target):
                self.hold.unlink()
            else:
                self._rotate(keep)
        if self.tmp.exists():
            if not self.prev(1).exists():
                os.replace(self.tmp, self.prev(1))
            elif _same(self.tmp, self.target):
                self.tmp.unlink()
            else:
                raise Refused(
                    f"{self.tmp} exists and is neither {self.target.name} nor a copy left by "
                    "a killed rollback: datacloner will not delete it; nothing was changed",
                    hint=f"if it is not needed, remove it by hand (rm {self.tmp}), then run again",
                )

    def rollback(self, keep: int) -> None:
        self.recover(keep)
        prev = self.prev(1)
        if not prev.exists():
            raise Refused(
                f"{self.target} has no previous copy ({prev.name}) to roll back to",
                hint="a refresh keeps the copy it replaces; `keep: 0` keeps none",
            )
        with signals.held(commits=True):  # a stop signal waits: the whole rollback or none
            if self.target.exists():
                self._link(self.target, self.tmp)
            os.replace(prev, self.target)
            if self.tmp.exists():
                os.replace(self.tmp, prev)
