"""COPY in and out: key ranges, streaming masked rows into a table, COPY
blocks, the per-column text codec, and how a failed load or read is worded."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from datacloner.core import redaction
from datacloner.core.catalog import Column
from datacloner.core.errors import Refused
from datacloner.core.plan import TablePlan
from datacloner.engines.base import Advance
from datacloner.engines.postgres import copytext
from datacloner.masking.table_masker import ConvertFields, TableMasker

log = logging.getLogger(__name__)


BLOCKS = "ctid"  # a KeyRange over heap blocks (no user column can be named so)
LAST_BLOCK = 0xFFFFFFFF  # InvalidBlockNumber: no real block is at or past it


@dataclass(frozen=True)
class KeyRange:
    """``low <= column < high``: a slice of a big table for one parallel worker
    (column ``ctid``: the rows in heap blocks ``low`` to ``high - 1``)."""

    column: str
    low: int
    high: int

    def condition(self, tids: str = BLOCKS) -> sql.Composable:
        """The WHERE condition of the range (of blocks: on the ``tids`` column,
        the table's own ``ctid`` unless a subset's store names its copies)."""
        if self.column == BLOCKS:  # a TID range scan reads those blocks alone
            return sql.SQL("{t} >= {lo}::tid AND {t} < {hi}::tid").format(
                t=sql.Identifier(tids),
                lo=sql.Literal(f"({self.low},0)"),
                hi=sql.Literal(f"({self.high},0)"),
            )
        return sql.SQL("{k} >= {lo} AND {k} < {hi}").format(
            k=sql.Identifier(self.column), lo=sql.Literal(self.low), hi=sql.Literal(self.high)
        )

    def describe(self) -> str:
        if self.column == BLOCKS:
            return f"heap block {self.low} onwards"
        return f"{self.column} >= {self.low}"


def relation(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def column_list(plan: TablePlan) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns)


def copy_into(
    conn: psycopg.Connection,
    source: Any,
    plan: TablePlan,
    masker: TableMasker,
    batch_size: int,
    advance: Advance,
    key_range: KeyRange | None = None,
) -> int:
    """Stream one table (or key range) from ``source`` through ``masker`` into
    ``conn`` with COPY, and commit; rows copied."""
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(
        relation(plan.table.schema, plan.table.name), column_list(plan)
    )
    rows = 0

    def counted(n: int) -> None:
        nonlocal rows
        rows += n
        advance(n)

    try:
        with conn.cursor() as cur, cur.copy(into) as sink:
            for data in source.masked_copy(plan, masker, batch_size, counted, key_range):
                sink.write(data)
        conn.commit()
    except psycopg.Error as exc:
        raise load_failed(plan, exc, key_range) from None
    return rows


def load_failed(plan: TablePlan, exc: psycopg.Error, key_range: KeyRange | None = None) -> Refused:
    """A load error names the table, the row number and the column, never the
    value (redaction.database_error: DETAIL and CONTEXT quote the row)."""
    columns = [c.name for c in plan.columns]
    error = redaction.from_psycopg(exc, columns)
    row = ""
    if error.line is not None:
        row = f" at row {error.line}"
        if key_range is not None:  # rows are counted from the start of this worker's range
            row += f" of {key_range.describe()}"
    return Refused(
        f"loading {plan.name} into the new copy failed{row}: {redaction.describe(error, columns)}",
        hint="the target was not changed; a masked value may not fit the column's type or "
        "a constraint: adjust that column's rule",
    )


def read_failed(plan: TablePlan, error: redaction.DbError, unless: str | None) -> Refused:
    """Reading a table failed: most often its ``unless:`` condition on one row
    (a cast of a value, a division); named without the row."""
    columns = [c.name for c in plan.columns]
    return Refused(
        f"reading {plan.name} from the source failed: {redaction.describe(error, columns)}",
        hint="the table's `unless:` condition fails on some row: make it hold for every row "
        "(e.g. guard a cast with CASE)"
        if unless
        else "the target was not changed; retry, or check the source's health",
    )


BLOCK = 1 << 18  # bytes of COPY data handed on at once


def copy_blocks(copy: psycopg.Copy, size: int = BLOCK) -> Iterator[bytes]:
    """libpq hands COPY data over one row at a time: gather rows into blocks
    (always ending at a row's end) so the rest of the pipeline runs per block."""
    buffer = bytearray()
    for chunk in copy:
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def masked_blocks(
    chunks: Iterable[bytes], masker: TableMasker, batch_size: int, advance: Advance
) -> Iterator[bytes]:
    """COPY text (``chunks`` cut anywhere) masked in batches of ``batch_size``
    rows: each batch stays one bytes object, only the fields the masker reads
    are taken out of it, and it is written again with the masked fields
    replaced (kept fields copied byte for byte, by C when it is built)."""
    pending: list[bytes] = []  # the rows of the next batch so far, as chunks
    rows = 0
    for chunk in chunks:
        lines = chunk.count(b"\n")
        while rows + lines >= batch_size:
            cut = -1
            for _ in range(batch_size - rows):  # a few thousand finds at most: cheap
                cut = chunk.find(b"\n", cut + 1)
            pending.append(chunk[: cut + 1])
            yield mask_block(b"".join(pending), masker)
            advance(batch_size)
            chunk = chunk[cut + 1 :]
            lines -= batch_size - rows
            pending, rows = [], 0
        if chunk:
            pending.append(chunk)
            rows += lines
    data = b"".join(pending)
    if data and not data.endswith(b"\n"):
        raise ValueError(copytext.ENDED_MID_ROW)
    if data:
        yield mask_block(data, masker)
        advance(rows)


def mask_block(data: bytes, masker: TableMasker) -> bytes:
    """Whole rows of COPY text (each with the `unless` flag last, when the
    table has one), masked; the flag is dropped."""
    keep = len(masker.columns)
    block = copytext.Block(data, keep + (1 if masker.unless else 0))
    block.fetch(masker.reads)  # one pass over the block for every field read
    new = masker.mask_fields(len(block), block.fields, copy_codec)
    return block.spliced(new, keep)


def _each(convert: Any) -> ConvertFields:
    return lambda items: [convert(item) for item in items]


def copy_codec(column: Column) -> tuple[ConvertFields, ConvertFields]:
    """COPY text <-> Python for one masked column, a batch's fields at once."""
    if column.is_array:
        return _each(copytext.decode_array), _each(copytext.encode_array)
    if column.type == "bytea":
        return _each(copytext.decode_bytea), copytext.encode_values
    return copytext.decode_fields, copytext.encode_values
