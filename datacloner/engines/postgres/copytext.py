"""PostgreSQL COPY text format: split raw COPY data into rows and fields, and
decode/encode only the fields that get masked, so kept fields pass through
byte for byte.

In text format a row ends with ``\\n`` and fields are separated by ``\\t``;
both are escaped inside data, so splitting on the raw bytes is exact.
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


def decode_column(rows: list[list[Any]], i: int) -> list[Any]:
    """``decode`` of field ``i`` of every row."""
    if _copynative is not None:
        return _copynative.decode_column(rows, i, decode)
    return [decode(row[i]) for row in rows]


def encode_column(rows: list[list[Any]], i: int, values: list[Any]) -> None:
    """Field ``i`` of every row set to ``encode`` of its value."""
    if _copynative is not None:
        _copynative.encode_column(rows, i, values, encode)
        return
    for row, value in zip(rows, values, strict=True):
        row[i] = encode(value)


class RowSplitter:
    """Feeds raw COPY chunks, yields complete rows as lists of raw fields."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[list[bytes]]:
        data = self._rest + chunk
        if _copynative is not None:
            rows, self._rest = _copynative.split_rows(data)
            return rows
        lines = data.split(b"\n")
        self._rest = lines.pop()
        return [line.split(b"\t") for line in lines]

    def finish(self) -> None:
        if self._rest:
            raise ValueError("COPY data ended in the middle of a row")


def join_rows(rows: list[list[bytes]]) -> bytes:
    if _copynative is not None:
        return _copynative.join_rows(rows)
    return b"".join(b"\t".join(row) + b"\n" for row in rows)


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
