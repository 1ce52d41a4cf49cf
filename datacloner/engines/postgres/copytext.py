"""PostgreSQL COPY text format: take the fields that get masked out of a
block of whole rows, decode and encode them, and splice them back, so kept
fields pass through byte for byte and never become objects.

In text format a row ends with ``\\n`` and fields are separated by ``\\t``;
both are escaped inside data, so cutting on the raw bytes is exact.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from datacloner.core.native import extension

# optional C helpers (setup.py); the Python below gives the same results
_copynative = extension("datacloner.engines.postgres._copynative")

Convert = Callable[[Any], Any]
NULL = b"\\N"
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)


def _unescape(match: re.Match[str]) -> str:
    token = match.group(1)
    if token[0] == "x" and len(token) > 1:
        return chr(int(token[1:], 16))
    if token[0] in "01234567":
        return chr(int(token, 8))
    return _ESCAPES.get(token, token)


def decode(field: bytes) -> str | None:
    if field == NULL:
        return None
    text = field.decode("utf-8")
    return _ESCAPE_RE.sub(_unescape, text) if "\\" in text else text


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def encode(value: Any) -> bytes:
    if value is None:
        return NULL
    text = _text(value)
    if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return text.encode("utf-8")


def decode_fields(fields: list[bytes]) -> list[Any]:
    """``decode`` of each field."""
    if _copynative is not None:
        return _copynative.decode_fields(fields, decode)
    return [decode(field) for field in fields]


def encode_values(values: list[Any]) -> list[bytes]:
    """``encode`` of each value."""
    if _copynative is not None:
        return _copynative.encode_values(values, encode)
    return [encode(value) for value in values]


# --- blocks of whole rows ------------------------------------------------------------
# A block of COPY text stays one bytes object: only the fields a masker reads
# become objects, and the block is written again with the masked fields
# replaced, every other field copied byte for byte.

ENDED_MID_ROW = "COPY data ended in the middle of a row"


def _columns_of(width: int, columns: list[int]) -> None:
    if width < 1:
        raise ValueError("a row has at least one field")
    if len(set(columns)) != len(columns) or any(not 0 <= c < width for c in columns):
        raise ValueError("columns must be distinct fields of the row")


def _split(data: bytes, width: int) -> list[list[bytes]]:
    """Python twin of the C scan: whole rows of ``width`` fields each."""
    if data and not data.endswith(b"\n"):
        raise ValueError(ENDED_MID_ROW)
    rows = [line.split(b"\t") for line in data.split(b"\n")[:-1]]
    for n, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"COPY row {n + 1} does not have {width} fields")
    return rows


def _check_splice(
    data: bytes, width: int, columns: list[int], values: list[list[bytes | None]], keep: int
) -> int | None:
    """The C splice's checks, in its order; the number of rows the values are for."""
    _columns_of(width, columns)
    if data and not data.endswith(b"\n"):
        raise ValueError(ENDED_MID_ROW)
    if not 1 <= keep <= width:
        raise ValueError("keep is between 1 and width")
    if len(values) != len(columns):
        raise ValueError("one list of values per column")
    count = None
    for new in values:
        if not isinstance(new, list) or (count is not None and len(new) != count):
            raise ValueError("one value per row in each column")
        count = len(new)
        if any(v is not None and not isinstance(v, bytes) for v in new):
            raise TypeError("a new field must be bytes")
    return count


def _splice_rows(
    rows: list[list[bytes]],
    count: int | None,
    columns: list[int],
    values: list[list[bytes | None]],
    keep: int,
) -> bytes:
    if count is not None and len(rows) != count:
        raise ValueError("one value per row in each column")
    out = [row[:keep] for row in rows]
    for c, new in zip(columns, values, strict=True):
        if c < keep:
            for row, value in zip(out, new, strict=True):
                if value is not None:
                    row[c] = value
    return b"".join(b"\t".join(row) + b"\n" for row in out)


def pick(data: bytes, width: int, columns: list[int]) -> list[list[bytes]]:
    """Field ``c`` of every row, for each ``c`` in ``columns``; ``data`` is
    whole rows of ``width`` fields each."""
    if _copynative is not None:
        return _copynative.pick(data, width, columns)
    _columns_of(width, columns)
    rows = _split(data, width)
    return [[row[c] for row in rows] for c in columns]


def splice(
    data: bytes,
    width: int,
    columns: list[int],
    values: list[list[bytes | None]],
    keep: int,
) -> bytes:
    """``data`` (whole rows of ``width`` fields) with field ``columns[k]`` of
    row ``r`` replaced by ``values[k][r]`` (None keeps it), and only the first
    ``keep`` fields of each row."""
    if _copynative is not None:
        return _copynative.splice(data, width, columns, values, keep)
    count = _check_splice(data, width, columns, values, keep)
    return _splice_rows(_split(data, width), count, columns, values, keep)


class Block:
    """Whole rows of COPY text, ``width`` fields each, read a column at a time."""

    def __init__(self, data: bytes, width: int) -> None:
        self.data = data
        self.width = width
        self.rows = data.count(b"\n")
        self._fields: dict[int, list[bytes]] = {}
        self._split: list[list[bytes]] | None = None  # the pure-Python path splits once

    def __len__(self) -> int:
        return self.rows

    def fetch(self, columns: list[int]) -> None:
        """Read these columns' fields in one pass."""
        wanted = [c for c in dict.fromkeys(columns) if c not in self._fields]
        if not wanted:
            return
        if _copynative is not None:
            picked = _copynative.pick(self.data, self.width, wanted)
        else:
            _columns_of(self.width, wanted)
            rows = self._rows()
            picked = [[row[c] for row in rows] for c in wanted]
        self._fields.update(zip(wanted, picked, strict=True))

    def fields(self, column: int) -> list[bytes]:
        """Field ``column`` of every row."""
        self.fetch([column])
        return self._fields[column]

    def spliced(self, new: dict[int, list[bytes | None]], keep: int) -> bytes:
        """The rows again, with ``new[c][r]`` as field ``c`` of row ``r`` (None
        keeps it), and only the first ``keep`` fields of each row."""
        columns, values = list(new), list(new.values())
        if _copynative is not None:
            return _copynative.splice(self.data, self.width, columns, values, keep)
        count = _check_splice(self.data, self.width, columns, values, keep)
        return _splice_rows(self._rows(), count, columns, values, keep)

    def _rows(self) -> list[list[bytes]]:
        if self._split is None:
            self._split = _split(self.data, self.width)
        return self._split


# --- arrays ----------------------------------------------------------------------
# PostgreSQL array literals ({a,"b c",NULL,{1,2}}), so a rule on an array
# column masks each element and NULL elements stay NULL.


def parse_array(text: str) -> list[Any]:
    if text.startswith("["):  # explicit bounds ("[0:1]={a,b}"): bounds are dropped
        text = text[text.index("=") + 1 :]
    value, end = _parse_level(text, 0)
    if text[end:].strip():
        raise ValueError("trailing characters after an array literal")
    return value


def _parse_level(text: str, pos: int) -> tuple[list[Any], int]:
    if text[pos] != "{":
        raise ValueError("an array literal starts with {")
    pos += 1
    items: list[Any] = []
    if text[pos] == "}":
        return items, pos + 1
    while True:
        char = text[pos]
        if char == "{":
            item, pos = _parse_level(text, pos)
            items.append(item)
        elif char == '"':
            pos += 1
            out = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                out.append(text[pos])
                pos += 1
            items.append("".join(out))
            pos += 1
        else:
            start = pos
            while text[pos] not in ",}":
                pos += 1
            raw = text[start:pos].strip()
            items.append(None if raw.upper() == "NULL" else raw)
        if text[pos] == ",":
            pos += 1
            continue
        if text[pos] == "}":
            return items, pos + 1
        raise ValueError("malformed array literal")


def format_array(items: list[Any]) -> str:
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(format_array(item))
        else:
            text = _text(item).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{text}"')
    return "{" + ",".join(parts) + "}"


# --- per-column codecs -------------------------------------------------------------


def decode_array(field: bytes) -> list[Any] | None:
    text = decode(field)
    return None if text is None else parse_array(text)


def encode_array(value: Any) -> bytes:
    return encode(format_array(value) if isinstance(value, list) else value)


def decode_bytea(field: bytes) -> bytes | None:
    # masked as the raw bytes, like every other engine hands them over
    text = decode(field)
    return None if text is None else bytes.fromhex(text[2:])
