"""The command line: one thin function per verb, one module per verb, over
the runtime. Importing a verb's module registers it on the shared app."""

from __future__ import annotations

from datacloner.cli import archive, check, preview, refresh, rollback, scan, status, verify  # noqa: F401  (registers the verbs)
from datacloner.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
