"""Progress display, its cost proportional to the work, not to the number of
tables already done (docs/performance.md, "Thousands of tables").

- On a terminal (``RichProgress``): one live view of the tables being copied
  (the busiest first, at most ``LIVE_ROWS``) and one summary line; finished
  tables leave the view, so a redraw costs the same at the 1st and the 1,000th.
- Elsewhere (a log file, CI): plain lines, one as each stage begins and one
  every ``LINE_EVERY`` seconds while rows move.
- ``refresh --json``: one JSON line on stderr per stage a refresh enters (see
  docs/lifecycle.md, "Progress events").
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


class ProgressSink(Protocol):
    def start_table(self, name: str, estimate: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def end_table(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...
    def stage(self, name: str) -> None: ...
    def close(self) -> None: ...


# The stages a refresh (or restore) enters, in order; "data" comes once per table.
STAGES = ("pre-data", "data", "post-data", "hooks", "manifest", "swap")

LIVE_ROWS = 5  # tables shown in the live view
LINE_EVERY = 5.0  # seconds between two plain progress lines while rows move


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


@dataclass
class _Running:
    name: str
    estimate: int
    rows: int = 0
    started: float = field(default_factory=time.monotonic)


class Tally:
    """What the run has done so far: O(1) to update, O(tables running) to read.
    Finished tables are counted, not kept."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.began = clock()
        self.stage: str | None = None
        self.tables = 0  # finished
        self.rows = 0  # finished tables' rows plus the running ones'
        self.running: dict[int, _Running] = {}
        self._next = 0
        self._current: int | None = None
        self.lock = threading.Lock()  # a live view reads from its own thread

    def start(self, name: str, estimate: int) -> None:
        with self.lock:
            self._current = self._next
            self._next += 1
            self.running[self._current] = _Running(name, max(estimate, 0), started=self.clock())

    def advance(self, rows: int) -> None:
        with self.lock:
            self.rows += rows
            if self._current is not None:
                self.running[self._current].rows += rows

    def end(self, rows: int) -> None:
        with self.lock:
            if self._current is None:
                return
            table = self.running.pop(self._current)
            self.rows += rows - table.rows  # the final count is the truth
            self.tables += 1
            self._current = None

    def elapsed(self) -> float:
        return self.clock() - self.began

    def busiest(self, limit: int) -> list[_Running]:
        with self.lock:
            running = list(self.running.values())
        return sorted(running, key=lambda t: max(t.estimate, t.rows), reverse=True)[:limit]

    def summary(self) -> str:
        seconds = self.elapsed()
        rate = f", {self.rows / seconds:,.0f} rows/s" if seconds > 0 and self.rows else ""
        stage = f"{self.stage}: " if self.stage else ""
        return f"{_clock(seconds)} {stage}{self.tables:,} tables, {self.rows:,} rows done{rate}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class LiveProgress:
    """A terminal's live view: the busiest running tables and a summary line.
    Each redraw renders at most ``LIVE_ROWS`` bars whatever the table count."""

    def __init__(self, console: Console, rows: int = LIVE_ROWS) -> None:
        self.console = console
        self.tally = Tally()
        self.rows = rows
        self.live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=True,  # the report that follows says what was done
        )
        self.live.start()

    def _render(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        for _ in range(5):
            grid.add_column()
        now = self.tally.clock()
        for t in self.tally.busiest(self.rows):
            seconds = now - t.started
            rate = f"{t.rows / seconds:,.0f} rows/s" if seconds > 0 and t.rows else ""
            done = f"{t.rows:,}/{t.estimate:,}" if t.estimate else f"{t.rows:,}"
            grid.add_row(
                Text(t.name, overflow="ellipsis", no_wrap=True),
                ProgressBar(total=t.estimate or None, completed=t.rows, width=30),
                done,
                rate,
                _clock(seconds),
            )
        return Group(grid, Text(self.tally.summary(), style="bold"))

    def start_table(self, name: str, estimate: int) -> None:
        self.tally.start(name, estimate)

    def advance(self, rows: int) -> None:
        self.tally.advance(rows)

    def end_table(self, rows: int) -> None:
        self.tally.end(rows)

    def note(self, message: str) -> None:
        self.live.console.print(message, markup=False, highlight=False)

    def stage(self, name: str) -> None:
        self.tally.stage = name

    def close(self) -> None:
        self.live.stop()


class LineProgress:
    """Plain lines for a log: one as each stage begins (the stage before it
    summed up) and one every ``every`` seconds while rows move. The number of
    lines grows with the run's time and stages, never with its tables."""

    def __init__(
        self,
        console: Console,
        every: float = LINE_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.every = every
        self.tally = Tally(clock)
        self._last_line = self.tally.began
        self._said = True  # nothing new since the last line

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self._last_line = self.tally.clock()
        self._said = True

    def _tick(self) -> None:
        self._said = False
        if self.tally.clock() - self._last_line < self.every:
            return
        running = self.tally.busiest(1)
        at = ""
        if running:
            t = running[0]
            of = f"/{t.estimate:,}" if t.estimate else ""
            at = f"; at {t.name} ({t.rows:,}{of} rows)"
        self._line(self.tally.summary() + at)

    def start_table(self, name: str, estimate: int) -> None:
        self.tally.start(name, estimate)
        self._tick()

    def advance(self, rows: int) -> None:
        self.tally.advance(rows)
        self._tick()

    def end_table(self, rows: int) -> None:
        self.tally.end(rows)
        self._tick()

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def stage(self, name: str) -> None:
        if name == self.tally.stage:  # "data" comes once per table
            return
        if not self._said:
            self._line(self.tally.summary())
        self.tally.stage = name
        self._line(f"{_clock(self.tally.elapsed())} {name}")

    def close(self) -> None:
        if not self._said:
            self._line(self.tally.summary())


def RichProgress(console: Console) -> LiveProgress | LineProgress:  # noqa: N802 (the old class name)
    """Progress for people on ``console``: a live view on a terminal, plain
    periodic lines anywhere else."""
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(console)
    return LineProgress(console)
