"""Progress display: Rich bars per table (rows, rows/s, ETA from the catalog's
row estimates) for people; for ``refresh --json``, one JSON line on stderr per
stage a refresh enters (see docs/lifecycle.md, "Progress events")."""

from __future__ import annotations

import json
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressSink(Protocol):
    def start_table(self, name: str, estimate: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def end_table(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...
    def stage(self, name: str) -> None: ...
    def close(self) -> None: ...


# The stages a refresh (or restore) enters, in order; "data" comes once per table.
STAGES = ("pre-data", "data", "post-data", "hooks", "manifest", "swap")


class QuietProgress:
    def start_table(self, name: str, estimate: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def end_table(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...
    def stage(self, name: str) -> None: ...
    def close(self) -> None: ...


class JsonProgress(QuietProgress):
    """``{"event": "stage", "stage": NAME}`` lines, flushed at once: a
    supervisor (or a test) sees what the run is doing while it runs."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def stage(self, name: str) -> None:
        self.stream.write(json.dumps({"event": "stage", "stage": name}) + "\n")
        self.stream.flush()


class RichProgress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.bar.start()
        self.task: TaskID | None = None

    def start_table(self, name: str, estimate: int) -> None:
        self.task = self.bar.add_task(name, total=estimate or None, rate="-")

    def advance(self, rows: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, rows)
            speed = self.bar.tasks[self.task].speed
            self.bar.update(self.task, rate=f"{speed:,.0f}" if speed else "-")

    def end_table(self, rows: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=rows, completed=rows)
            self.task = None

    def note(self, message: str) -> None:
        self.bar.console.print(message, markup=False, highlight=False)

    def stage(self, name: str) -> None: ...  # the bars say it for people

    def close(self) -> None:
        self.bar.stop()
