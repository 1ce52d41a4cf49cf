"""SIGTERM, SIGINT and SIGHUP stop a run cleanly.

The first of them raises :class:`Stopped` in the main thread, wherever it is,
so the cleanup every failure runs (``except BaseException: discard``) runs
too: the new copy is dropped, the lock released, worker processes ended.
``Stopped`` is a ``SystemExit`` carrying 128 + the signal's number: nothing
that catches ``Exception`` swallows it, psycopg cancels the server query it
interrupts, and, caught nowhere else, it ends the process with that code and
no traceback.

After the first signal, further ones are ignored, so they never cut the
cleanup short; a watchdog ends the process after ``CLEANUP_SECONDS`` whatever
the cleanup is waiting for. Inside :func:`held` (the renames of a swap) a
signal waits until the block has ended, so a swap is done entirely or not at
all.

Only the standard library is imported here: the CLI installs the handlers
before it imports anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# the cleanup's time limit: with the signal's own latency, a stopped run has
# exited within 10 s (systemd waits 90 s before SIGKILL)
CLEANUP_SECONDS = 8.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Stopped(SystemExit):
    """A stop signal arrived; ``code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class _State:
    received: int | None = None  # the first stop signal
    raised = False  # Stopped was raised for it
    holding = 0  # depth of held() blocks
    changing = False  # the verb has begun to build or change something
    committed = False  # a held(commits=True) block ended normally
    # what to say when stopped while changing, and after the change was committed
    outcome: tuple[str, str] = ("nothing was changed", "nothing was changed")


_state = _State()


def install() -> None:
    """Handlers for the stop signals; a signal ignored when we started (nohup
    ignores SIGHUP, a shell's background job SIGINT) stays ignored. Only the
    main thread may install handlers (``main()`` called from another thread
    keeps Python's defaults)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _state.received is not None:
        return  # the first one's cleanup is running: never cut it short
    _state.received = signum
    watchdog = threading.Timer(CLEANUP_SECONDS, _give_up, (signum,))
    watchdog.daemon = True
    watchdog.start()
    if _state.holding:
        return  # raised when the held block ends
    _state.raised = True
    raise Stopped(signum)


def _give_up(signum: int) -> None:
    name = signal.Signals(signum).name
    _say(
        f"stopped by {name}: the cleanup did not finish within {CLEANUP_SECONDS:g}s; "
        "the next run of this environment removes what is left"
    )
    os._exit(128 + signum)  # worker processes die with us (see worker())


@contextlib.contextmanager
def held(commits: bool = False) -> Iterator[None]:
    """A stop signal arriving inside the block is raised only once the block
    has ended (a transaction committed or rolled back, a cleanup finished).
    ``commits``: the block's normal end makes the change; a stop reported
    after it says so."""
    _state.holding += 1
    ended = False
    try:
        yield
        ended = True
    finally:
        _state.holding -= 1
        if ended and commits:
            _state.committed = True
        if _state.received is not None and not _state.holding and not _state.raised:
            _state.raised = True
            raise Stopped(_state.received)


def describe(unchanged: str, changed: str) -> None:
    """What a stop leaves once the verb has begun to change something (see
    :func:`changing`), and after the change was committed."""
    _state.outcome = (unchanged, changed)


def changing() -> None:
    """The verb begins to build or change something (until now a stop left
    nothing to clean up)."""
    _state.changing = True


def report(stop: Stopped) -> None:
    """The one line a stopped run prints."""
    if _state.committed:
        what = _state.outcome[1]
    elif _state.changing:
        what = _state.outcome[0]
    else:
        what = "nothing was changed"
    _say(f"stopped by {stop.name}: {what}")


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
        os.write(2, (line + "\n").encode())


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Stop signals wait while the block runs. Child processes started in it
    inherit the mask, so none is hit by a Ctrl-C (sent to the whole process
    group) before it has set up its own handling (:func:`worker`)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def worker(leader: int) -> None:
    """First thing in a worker process (started inside :func:`blocked`): the
    leader alone handles Ctrl-C and SIGHUP and ends its workers itself;
    SIGTERM (its ``terminate()``) ends a worker at once, and a worker dies
    with the leader even when the leader is killed with SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != leader:
        os._exit(1)  # the leader died before prctl took effect
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
