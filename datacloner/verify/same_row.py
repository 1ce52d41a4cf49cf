"""Same row, same place: a masked value equal to its own source value is a leak.

Rules that draw their output (``faker``, ``hash``, ``shift``: their kind's
``changes``) never give a value equal to its input (docs/masking.md, "never
equals its source"), so when the target row with the same primary key holds,
at the same place (the column, the same JSON path and element, the same array
element), the value its source row held, that value was not masked: a certain
leak, whatever the value (`Smith` too, which the search of the whole target rightly
ignores). A rule that keeps its text (``scrub``: its kind's ``finds``): there,
what its detectors find in the source value (an email, a phone number) must
not be in the same row's target value. A kind that masks parts of a document
(``json``: its kind's ``paths``) is compared path by path, by each path's rule.

The sampled rows live in memory only while they are compared; nothing here
prints or raises with a value or a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from datacloner.core.catalog import Column, Table
from datacloner.core.rules import MaskSpec
from datacloner.masking import kinds
from datacloner.masking.base import same_as_source
from datacloner.verify.tokens import _digit_runs, _loose, embedded, normalize

Path = tuple[str, ...]


class RowSampler(Protocol):
    def sample_rows(
        self, table: Table, column: Column, limit: int, unless: str | None, path: Path | None
    ) -> tuple[list[str], list[tuple[str, list[str]]]] | None:
        """(primary key columns, up to ``limit`` rows as (key as text, the values at
        ``path`` or the column's values, in order)); None when the table has no
        primary key or the type is not sampled."""
        ...


class RowReader(Protocol):
    def rows(
        self,
        schema: str,
        table: str,
        column: str,
        key: list[str],
        keys: list[str],
        path: Path | None,
    ) -> dict[str, list[str]] | None:
        """The target rows with these keys, as :meth:`RowSampler.sample_rows` reads
        them; None when the target has no such table or column."""
        ...


@dataclass
class Check:
    """One masked place to compare row by row: a column, or one JSON path of it."""

    table: Table
    display: str  # the table as reports name it
    column: Column
    path: Path | None
    finds: list[str] | None = None  # compare what these detector kinds find (a scrub rule)
    rows: int = 0  # rows compared
    equal: int = 0  # rows holding their own source value


def promises_change(spec: MaskSpec) -> bool:
    """Whether a rule's output never equals its input (masking's guarantee)."""
    kind = kinds.load(spec.kind)
    return kind is not None and kind.changes is not None and kind.changes(spec)


def _check(
    table: Table, display: str, column: Column, path: Path | None, spec: MaskSpec
) -> Check | None:
    """How one rule's output at ``path`` is compared, or None when it cannot be."""
    kind = kinds.load(spec.kind)
    if kind is not None and kind.finds is not None:
        return Check(table, display, column, path, finds=kind.finds(spec)[0])
    if promises_change(spec):
        return Check(table, display, column, path)
    return None


def checks_for(table: Table, display: str, column: Column, spec: MaskSpec) -> Iterator[Check]:
    """What of one masked column can be compared with its source row."""
    kind = kinds.load(spec.kind)
    if kind is not None and kind.paths is not None:
        # each path by its own rule; a document in a document is not walked
        found = [
            _check(table, display, column, tuple(str(path_text).split(".")), nested)
            for path_text, nested in spec.nested.items()
        ]
        yield from (check for check in found if check is not None)
    elif (check := _check(table, display, column, None, spec)) is not None:
        yield check


def _leaked(check: Check, before: list[str], after: list[str]) -> bool:
    if check.finds is None:
        # the same place: the n-th value at the path, the n-th element
        pairs = zip(before, after, strict=False)
        return any(s is not None and t is not None and same_as_source(t, s) for s, t in pairs)
    found: set[bytes] = set()
    for value in before:
        if value is not None:
            found.update(embedded(value, check.finds))
    if not found:
        return False
    for value in after:
        if value is None:
            continue
        norm = normalize(value)
        if found.intersection(_loose(norm)) or found.intersection(_digit_runs(norm)):
            return True
    return False


def compare(
    check: Check,
    sampler: Any,
    reader: Any,
    target: tuple[str, str],
    limit: int,
    unless: str | None,
) -> None:
    """Compare up to ``limit`` sampled rows of ``check`` (not those ``unless``
    passes unmasked) with the rows of the same keys in the ``target`` table."""
    sampled = sampler.sample_rows(check.table, check.column, limit, unless, check.path)
    if not sampled:
        return
    key, rows = sampled
    if not rows:
        return
    found = reader.rows(*target, check.column.name, key, [k for k, _ in rows], check.path)
    if found is None:
        return
    for row_key, before in rows:
        after = found.get(row_key)
        if after is None:
            continue
        check.rows += 1
        if _leaked(check, before, after):
            check.equal += 1
    rows.clear()  # drop the source values as soon as they are compared
