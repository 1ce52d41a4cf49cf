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
from decimal import Decimal
from typing import Any

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


class RowSplitter:
    """Feeds raw COPY chunks, yields complete rows as lists of raw fields."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[list[bytes]]:
        data = self._rest + chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        return [line.split(b"\t") for line in lines]

    def finish(self) -> None:
        if self._rest:
            raise ValueError("COPY data ended in the middle of a row")


def join_rows(rows: list[list[bytes]]) -> bytes:
    return b"".join(b"\t".join(row) + b"\n" for row in rows)
