"""The command line: one thin function per verb, one module per verb, over
the runtime. Importing a verb's module registers it on the shared app.

``main`` installs the stop-signal handlers before it imports the verbs (about
a second of imports): a Ctrl-C or SIGTERM at any moment ends the run quietly
with 128 + the signal's number (see ``datacloner.core.signals``)."""

from __future__ import annotations

import signal
from typing import Any

from datacloner.core import signals


def _load() -> Any:
    from datacloner.cli import (  # noqa: F401  (registers the verbs)
        archive,
        check,
        preview,
        refresh,
        rollback,
        scan,
        status,
        verify,
    )
    from datacloner.cli.app import app

    globals()["app"] = app  # the Typer app, not the `app` submodule
    return app


def main() -> None:
    try:
        signals.install()
        _load()()
    except signals.Stopped as stop:
        signals.report(stop)
        raise SystemExit(stop.code) from None
    except KeyboardInterrupt:  # Ctrl-C a moment before the handlers were in place
        stop = signals.Stopped(signal.SIGINT)
        signals.report(stop)
        raise SystemExit(stop.code) from None


def __getattr__(name: str) -> Any:
    # `datacloner.cli.app` for tools and tests, without the handlers
    if name == "app":
        return _load()
    raise AttributeError(name)


__all__ = ["app", "main"]
