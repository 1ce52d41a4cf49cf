"""Types shared by every transformer family: maskers, row maskers, bad values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from datacloner.core.errors import UsageError
from datacloner.masking.spec import MaskSpec

Masker = Callable[[Sequence[Any]], list[Any]]
"""A whole batch of one column's values in, the masked values out, same length and order."""

ValueFn = Callable[[Any], Any]
"""Masks one value that is neither None nor an array (the batch wrapper handles those)."""


class BadValue(Exception):  # noqa: N818 (the name the engines and the lead use)
    """A value a masker cannot mask, e.g. a json rule on text that is not JSON.

    ``index`` is the value's position in the batch, so the caller can name the
    table, column and primary key; ``reason`` never contains the value itself
    (it is personal data, and error messages end up in CI logs).
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"value #{index} of the batch: {reason}")
        self.index = index
        self.reason = reason


class Unmaskable(Exception):  # noqa: N818
    """Raised by a value function; the batch wrapper turns it into BadValue(index)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RowMasker:
    """A masker that reads other columns of the row (``template``).

    ``fields`` are the columns it reads, its own column included (``column``).
    Called with the rows of a batch as mappings of column name to value, after
    every other column has been masked: the other columns' *masked* values,
    and this column's own *original* value under its own name (only to keep
    NULL as NULL: the output never contains it).
    """

    def __init__(
        self,
        column: str,
        fields: tuple[str, ...],
        render: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        self.column = column
        self.fields = fields
        self._render = render

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        column, render = self.column, self._render
        return [None if row.get(column) is None else render(row) for row in rows]


def over_batch(fn: ValueFn, *, arrays: bool = True) -> Masker:
    """A batch masker from a one-value function: None stays None, a list (an
    array column's value) is masked element by element, nested lists too, and
    Unmaskable becomes BadValue with the value's position in the batch."""

    def each(values: list[Any]) -> list[Any]:
        return [None if v is None else each(v) if isinstance(v, list) else fn(v) for v in values]

    # A value function may carry its own batch form, ``fn.map(values, other)``:
    # None stays None, what it takes it masks at once (the native faker draws of
    # fast.py, json texts), and it hands anything else to ``other``.
    batch = getattr(fn, "map", None)
    if batch is not None:

        def other(v: Any) -> Any:  # what the native loop does not take itself
            return each(v) if arrays and isinstance(v, list) else fn(v)

        return lambda values: batch(values, other)

    def mask(values: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        i = -1
        try:
            for i, v in enumerate(values):  # noqa: B007 (i is read in the except clause)
                if v is None:
                    append(None)
                elif arrays and isinstance(v, list):
                    append(each(v))
                else:
                    append(fn(v))
        except Unmaskable as exc:
            raise BadValue(i, exc.reason) from None
        return out

    return mask


def spec_error(
    spec: MaskSpec, column: str | None, what: str, hint: str | None = None
) -> UsageError:
    """A UsageError that names the rules file and line, and the column when known."""
    where = f"{spec.location}: " + (f"column {column}: " if column else "")
    return UsageError(where + what, hint=hint)


# --- a masked value never equals its source -------------------------------------------
# A fake drawn from Faker's lists can be the input itself ("Smith" -> "Smith"):
# the rules that draw fakes draw again (deterministically) when it is. Equal
# means equal to a reader: case, spaces and punctuation aside ("Smith" and
# "smith", "555-0100" and "(555) 0100"). _fastdraw.c's maybe_same() is the
# conservative C form of this test: whatever this calls equal, it calls maybe.

REDRAWS = 16  # draws after the first; a pool that always gives the input keeps the last
# derive() attempts of the re-draws start here: apart from a rule's other
# derive() attempts (retries of a fake too long, a shape fake's stream)
REDRAW_BASE = 1 << 16


def comparable(value: Any) -> str:
    """The letters and digits of ``value``, case-folded: what two values that
    are "the same" to a reader share."""
    text = value if isinstance(value, str) else str(value)
    return "".join([c for c in text.casefold() if c.isalnum()])


def same_as_source(out: Any, value: Any) -> bool:
    """Whether a masked value would read as its source ``value``."""
    if out is value or out == value:
        return True
    a = out if isinstance(out, str) else str(out)
    b = value if isinstance(value, str) else str(value)
    # the common case, a different first letter, without casefolding it all
    if a and b and a[0].isascii() and b[0].isascii() and a[0].isalnum() and b[0].isalnum():  # noqa: SIM102
        if a[0].lower() != b[0].lower():
            return False
    key = comparable(a)
    return bool(key) and key == comparable(b)
