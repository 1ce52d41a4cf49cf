"""Generations of a SQLite target file: ``dev.db``, ``dev.db.prev``,
``dev.db.prev2``... rotated with hard links and renames so the target path
never goes missing, plus a lock file so two runs never interleave."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from datacloner.errors import Refused
from datacloner.faults import checkpoint

NEW_SUFFIX = ".dc_new"
PREV_SUFFIX = ".prev"
TMP_SUFFIX = ".dc_tmp"


class FileGenerations:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.new = target.with_name(target.name + NEW_SUFFIX)
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
        path = self.target.with_name(self.target.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Refused(
                f"another datacloner run is refreshing or rolling back {self.target} right now",
                hint="wait for it to finish; runs of one environment never interleave",
            ) from None
        self._lock = fd  # released when the process ends, even on kill -9

    def unlock(self) -> None:
        if self._lock is not None:
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
        if self.target.exists() and keep > 0:
            for generation in range(keep - 1, 0, -1):
                if self.prev(generation).exists():
                    os.replace(self.prev(generation), self.prev(generation + 1))
            # a link, not a rename: the target path is never missing
            self._link(self.target, self.prev(1))
        checkpoint("swap")
        os.replace(self.new, self.target)

    def recover(self) -> None:
        """A rollback killed between its renames leaves the replaced copy as
        ``.dc_tmp``: it is the previous copy."""
        tmp = self.target.with_name(self.target.name + TMP_SUFFIX)
        if tmp.exists():
            if self.prev(1).exists():
                tmp.unlink()
            else:
                os.replace(tmp, self.prev(1))

    def rollback(self) -> None:
        self.recover()
        prev = self.prev(1)
        if not prev.exists():
            raise Refused(
                f"{self.target} has no previous copy ({prev.name}) to roll back to",
                hint="a refresh keeps the copy it replaces; `keep: 0` keeps none",
            )
        tmp = self.target.with_name(self.target.name + TMP_SUFFIX)
        if self.target.exists():
            self._link(self.target, tmp)
        os.replace(prev, self.target)
        if tmp.exists():
            os.replace(tmp, prev)
