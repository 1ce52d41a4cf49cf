"""The mask stage: a table's compiled column maskers applied to batches of rows.

Engines hand it a batch either as rows (mutable lists in their wire format,
``apply``) or a column at a time (``mask_fields``: the engine reads only the
fields asked for and writes back only the masked ones, every other field
stays as it was on the wire). A codec decodes and encodes one field of every
row of a batch at once; only masked fields (and the fields a template reads)
are ever decoded. Maskers are compiled once per rule and column shape and
shared across tables, so the same rule gives the same value everywhere.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from datacloner.core.catalog import Column
from datacloner.core.errors import DataclonerError, Refused
from datacloner.core.plan import TablePlan
from datacloner.core.rules import MaskSpec
from datacloner.masking import BadValue, RowMasker, masker_key

Masker = Callable[[Sequence[Any]], list[Any]]
Compiler = Callable[[MaskSpec, bytes, Column | None], Masker | RowMasker]
Convert = Callable[[Any], Any]
DecodeColumn = Callable[[list[list[Any]], int], list[Any]]
"""Field ``i`` of every row, decoded."""
EncodeColumn = Callable[[list[list[Any]], int, list[Any]], None]
"""Field ``i`` of every row set to its value, encoded."""
Codec = Callable[[Column], tuple[DecodeColumn | None, EncodeColumn | None]]
"""A column's converters; None keeps the field as it is."""
ConvertFields = Callable[[list[Any]], list[Any]]
"""A column's fields, one per row, converted (decoded or encoded)."""
FieldCodec = Callable[[Column], tuple[ConvertFields, ConvertFields]]
"""A column's converters for ``mask_fields``."""
FieldsOf = Callable[[int], list[Any]]
"""Field ``i`` of every row of a batch, as on the wire."""


def decode_each(decode: Convert) -> DecodeColumn:
    """A column decoder from a one-field one."""
    return lambda rows, i: [decode(row[i]) for row in rows]


def encode_each(encode: Convert) -> EncodeColumn:
    """A column encoder from a one-field one."""

    def encode_column(rows: list[list[Any]], i: int, values: list[Any]) -> None:
        for row, value in zip(rows, values, strict=True):
            row[i] = encode(value)

    return encode_column


# key types whose values identify a row without describing anyone
_SHOWN_KEY_TYPES = frozenset({"smallint", "integer", "bigint", "uuid"})

_keep_decoded = decode_each(lambda value: value)
_keep_encoded = encode_each(lambda value: value)
# an `unless` flag that keeps its row unmasked: COPY text or a Python value
_FLAG_SET = (b"t", "t", True, 1)


class MaskerCache:
    """One compiled masker per rule identity and column shape for the whole run
    (the shape matters: outputs are fitted to a column's length and type)."""

    def __init__(self, compile_mask: Compiler, secret: bytes) -> None:
        self._compile = compile_mask
        self._secret = secret
        self._by_key: dict[Any, Masker | RowMasker] = {}

    def get(self, spec: MaskSpec, column: Column) -> Masker | RowMasker:
        key = masker_key(spec, column)
        if key not in self._by_key:
            self._by_key[key] = self._compile(spec, self._secret, column)
        return self._by_key[key]


BATCH_GC_THRESHOLD = 50_000


@contextmanager
def batch_gc() -> Iterator[None]:
    """Collect garbage less often while rows stream through the maskers: every
    batch makes hundreds of thousands of short-lived lists and fields with no
    reference cycles, and the default (a collection every 700 new containers)
    costs about a third of splitting and joining COPY text."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], BATCH_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class TableMasker:
    def __init__(self, plan: TablePlan, cache: MaskerCache) -> None:
        self.table = plan.name
        self.columns = plan.columns
        # a key whose values may name a row in a message: unmasked whole numbers
        # or UUIDs only (an email or a name as the key is personal)
        key = [i for i, c in enumerate(plan.columns) if c.name in plan.table.primary_key]
        shown = all(
            plan.columns[i].name not in plan.masks
            and plan.columns[i].type.lower() in _SHOWN_KEY_TYPES
            for i in key
        )
        self.key = key if shown else []
        self.seen = 0  # rows this masker was handed before the current batch
        self._positions: Sequence[int] = range(0)
        self._key_fields: Callable[[int], list[Any]] = lambda n: []
        self.values: list[tuple[int, Column, Masker]] = []
        self.rows: list[tuple[int, Column, RowMasker]] = []
        for i, column in enumerate(plan.columns):
            if column.name not in plan.masks:
                continue
            masker = cache.get(plan.masks[column.name], column)
            if isinstance(masker, RowMasker):
                self.rows.append((i, column, masker))
            else:
                self.values.append((i, column, masker))
        # rows whose `unless` flag is set pass unmasked: the engine appends the
        # flag as one extra trailing field (only when something is masked)
        self.unless = plan.unless if self.values or self.rows else None
        index = {c.name: i for i, c in enumerate(plan.columns)}
        self.template_fields = {i: [(f, index[f]) for f in m.fields] for i, _, m in self.rows}

    @property
    def active(self) -> bool:
        return bool(self.values or self.rows)

    @property
    def reads(self) -> list[int]:
        """The fields ``mask_fields`` reads: the masked ones, those templates
        read, and the `unless` flag (field ``len(columns)``)."""
        wanted = [i for i, _, _ in self.values + self.rows]
        wanted += [j for fields in self.template_fields.values() for _, j in fields]
        if self.unless:
            wanted.append(len(self.columns))
        return sorted(set(wanted))

    def apply(self, rows: list[list[Any]], codec: Codec | None = None) -> None:
        """Mask in place, rows as lists (the `unless` flag, when there is one,
        is each row's last item and is removed)."""
        chosen = rows
        # where each chosen row is in the table as read, for messages
        self._positions = range(self.seen, self.seen + len(rows))
        self.seen += len(rows)
        if self.unless:
            picked = [n for n, r in enumerate(rows) if r[-1] not in _FLAG_SET]
            chosen = [rows[n] for n in picked]
            self._positions = [self._positions[n] for n in picked]
            for row in rows:
                del row[-1]
        if not chosen:
            return
        self._key_fields = lambda n: [chosen[n][i] for i in self.key]

        def read(i: int) -> list[Any]:
            decode = (codec(self.columns[i])[0] if codec else None) or _keep_decoded
            return decode(chosen, i)

        for i, values in self._mask(len(chosen), read).items():
            encode = (codec(self.columns[i])[1] if codec else None) or _keep_encoded
            encode(chosen, i, values)

    def mask_fields(self, count: int, fields: FieldsOf, codec: FieldCodec) -> dict[int, list[Any]]:
        """Mask a batch of ``count`` rows read a column at a time (the engine
        had better read ``reads`` at once): each masked column's new fields,
        one per row, None where `unless` keeps the row."""
        positions: Sequence[int] = range(self.seen, self.seen + count)
        self.seen += count
        picked: list[int] | None = None
        if self.unless:
            flags = fields(len(self.columns))
            picked = [n for n, flag in enumerate(flags) if flag not in _FLAG_SET]
            positions = [positions[n] for n in picked]
            if not picked:
                return {}
        self._positions = positions

        def raw(i: int) -> list[Any]:
            column = fields(i)
            return column if picked is None else [column[n] for n in picked]

        self._key_fields = lambda n: [raw(i)[n] for i in self.key]
        masked = self._mask(len(positions), lambda i: codec(self.columns[i])[0](raw(i)))
        out: dict[int, list[Any]] = {}
        for i, values in masked.items():
            encoded = codec(self.columns[i])[1](values)
            if picked is not None:
                whole: list[Any] = [None] * count
                for n, field in zip(picked, encoded, strict=True):
                    whole[n] = field
                encoded = whole
            out[i] = encoded
        return out

    def _mask(self, count: int, read: Callable[[int], list[Any]]) -> dict[int, list[Any]]:
        """The masked values of each masked column, one per chosen row;
        ``read(i)``: column ``i``'s decoded values. One column at a time so
        each masker sees a whole batch; templates last, since they read the
        other masked columns."""
        decoded: dict[int, list[Any]] = {}

        def column_values(i: int) -> list[Any]:
            if i not in decoded:
                decoded[i] = read(i)
            return decoded[i]

        originals = {i: column_values(i) for i, _, _ in self.rows}
        for i, column, masker in self.values:
            decoded[i] = self._run(column, masker, column_values(i), count)
        for i, column, masker in self.rows:
            records = [
                {name: column_values(j)[n] for name, j in self.template_fields[i]}
                for n in range(count)
            ]
            for record, original in zip(records, originals[i], strict=True):
                record[column.name] = original  # its own original: NULL stays NULL
            decoded[i] = self._run(column, masker, records, count)
        return {i: decoded[i] for i, _, _ in self.values + self.rows}

    def _run(
        self, column: Column, masker: Masker | RowMasker, values: Any, count: int
    ) -> list[Any]:
        try:
            return masker(values)
        except BadValue as exc:
            row = self._key_of(count, exc.index)
            raise Refused(
                f"cannot mask {self.table}.{column.name} in the row {row}: {exc.reason}",
                hint="fix that row in the source, or the column's rule",
            ) from None
        except DataclonerError:
            raise
        except Exception as exc:
            # the exception text may quote the value: name the type only
            raise Refused(
                f"masking {self.table}.{column.name} failed: {type(exc).__name__}",
                hint="check the rule for this column (provider, args, locale)",
            ) from None

    def _key_of(self, count: int, index: int) -> str:
        """The row's key if it is a number or UUID that nothing masks, else its
        position in the table as read (never a value that may be personal)."""
        if not 0 <= index < count:
            return "of this batch"
        if not self.key:
            return f"number {self._positions[index] + 1} read"
        parts = []
        for value in self._key_fields(index):
            parts.append(value.decode() if isinstance(value, bytes) else str(value))
        names = ", ".join(self.columns[i].name for i in self.key)
        return f"with ({names}) = ({', '.join(parts)})"
