"""``{partial: {keep_first: 2, keep_last: 4, mask_char: "*"}}``: show the ends, hide the rest.

The output has the input's length. At least half of the characters are always
masked: on a short value the kept ends shrink (the first ones first), so
``{keep_last: 4}`` never shows a 4-character value whole. Not keyed: the same
input always gives the same output, with or without the secret; the kept
characters are the original ones, so use it only where showing them is fine
(the last digits of a card or phone, as on a receipt).
"""

from __future__ import annotations

from typing import Any

from datacloner.masking.base import Unmaskable, ValueFn
from datacloner.masking.columns import ColumnType
from datacloner.masking.fitting import check_text_column
from datacloner.rules import MaskSpec


def check_partial(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    check_text_column(spec, column, col, "partial")


def partial_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    first = spec.options.get("keep_first", 0)
    last = spec.options.get("keep_last", 0)
    char = spec.options.get("mask_char", "*")

    def mask(value: Any) -> str:
        if isinstance(value, bytes | bytearray | memoryview):
            raise Unmaskable("partial needs text, got bytes")
        text = value if isinstance(value, str) else str(value)
        n = len(text)
        room = n // 2  # keep at most half
        keep_last = min(last, room)
        keep_first = min(first, room - keep_last)
        hidden = n - keep_first - keep_last
        return text[:keep_first] + char * hidden + (text[n - keep_last :] if keep_last else "")

    return mask
