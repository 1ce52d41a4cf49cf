"""Types shared by every transformer family."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from datacloner.errors import UsageError
from datacloner.rules import MaskSpec

Masker = Callable[[Sequence[Any]], list[Any]]
"""A whole batch of one column's values in, the masked values out, same length and order."""


def spec_error(
    spec: MaskSpec, column: str | None, what: str, hint: str | None = None
) -> UsageError:
    """A UsageError that names the rules file and line, and the column when known."""
    where = f"{spec.location}: " + (f"column {column}: " if column else "")
    return UsageError(where + what, hint=hint)
