"""The mask stage: a table's compiled column maskers applied to batches of rows.

Engines hand it rows as mutable lists of Python values (already decoded from
their wire format) and get the same rows back with masked columns replaced.
Maskers are compiled once per rule identity and shared across tables, so the
same rule gives the same value everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from datacloner.catalog import Column
from datacloner.errors import DataclonerError, Refused
from datacloner.plan import TablePlan
from datacloner.rules import MaskSpec

Masker = Callable[[Sequence[Any]], list[Any]]
Convert = Callable[[Any], Any]
Codec = Callable[[Column], tuple[Convert | None, Convert | None]]
Compiler = Callable[[MaskSpec, bytes], Masker]


class MaskerCache:
    """One compiled masker per rule identity for the whole run."""

    def __init__(self, compile_mask: Compiler, secret: bytes) -> None:
        self._compile = compile_mask
        self._secret = secret
        self._by_identity: dict[str, Masker] = {}

    def get(self, spec: MaskSpec) -> Masker:
        key = spec.identity()
        if key not in self._by_identity:
            self._by_identity[key] = self._compile(spec, self._secret)
        return self._by_identity[key]


class TableMasker:
    def __init__(self, plan: TablePlan, cache: MaskerCache) -> None:
        self.table = plan.name
        self.positions = [
            (i, c, cache.get(plan.masks[c.name]))
            for i, c in enumerate(plan.columns)
            if c.name in plan.masks
        ]

    @property
    def active(self) -> bool:
        return bool(self.positions)

    def apply(self, rows: list[list[Any]], codec: Codec | None = None) -> None:
        """Mask in place, one column at a time, so each masker sees a whole batch.
        ``codec(column)`` gives (decode, encode) for an engine's wire format;
        only masked fields are ever decoded."""
        for index, column, masker in self.positions:
            values = [row[index] for row in rows]
            decode, encode = codec(column) if codec else (None, None)
            if decode is not None:
                values = [decode(v) for v in values]
            try:
                masked = masker(values)
            except DataclonerError:
                raise
            except Exception as exc:
                # the exception text may quote the value: name the type only
                raise Refused(
                    f"masking {self.table}.{column.name} failed: {type(exc).__name__}",
                    hint="check the rule for this column (provider, args, locale)",
                ) from None
            if encode is not None:
                masked = [encode(v) for v in masked]
            for row, value in zip(rows, masked, strict=True):
                row[index] = value
