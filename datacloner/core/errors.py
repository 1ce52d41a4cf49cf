"""Errors a user can act on. Each carries the exit code the CLI returns.

Exit codes (README, docs/design.md): 0 success, 1 a check failed or data was refused,
2 bad usage or configuration. The CLI prints ``str(error)`` and, when set,
``hint``; it never prints a stack trace for these.
"""

from __future__ import annotations

from typing import Any


class DataclonerError(Exception):
    """Base class: a problem the user can fix; never a bug."""

    exit_code = 1

    def __init__(
        self, message: str, hint: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}  # the same findings, for `--json`

    def __str__(self) -> str:
        return self.message


class UsageError(DataclonerError):
    """Bad usage, configuration or rules (exit 2)."""

    exit_code = 2


class CheckFailed(DataclonerError):
    """A check failed, e.g. an unclassified column in strict mode (exit 1)."""

    exit_code = 1


class Refused(DataclonerError):
    """Data or a target was refused, or the run failed part-way (exit 1)."""

    exit_code = 1
