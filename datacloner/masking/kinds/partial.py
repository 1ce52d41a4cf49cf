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

from datacloner.core.yamlsource import unknown_key
from datacloner.masking.base import Unmaskable, ValueFn
from datacloner.masking.columns import ColumnType
from datacloner.masking.fitting import check_text_column
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec, RuleSource, SpecParser, is_int


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


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    keys = ("keep_first", "keep_last", "mask_char")
    if not isinstance(body, dict):
        p.error(where, f"{label}.partial: expected a mapping, e.g. {{keep_last: 4}}")
        return None
    ok = True
    for key in body:
        if key not in keys:
            p.error((*where, key), f"{label}.partial: {unknown_key(key, keys)}")
            ok = False
    options = {
        "keep_first": body.get("keep_first", 0),
        "keep_last": body.get("keep_last", 0),
        "mask_char": body.get("mask_char", "*"),
    }
    for key in ("keep_first", "keep_last"):
        if not is_int(options[key]) or options[key] < 0:
            p.error((*where, key), f"{label}.partial.{key}: expected a whole number >= 0")
            ok = False
    char = options["mask_char"]
    if not isinstance(char, str) or len(char) != 1:
        p.error((*where, "mask_char"), f"{label}.partial.mask_char: expected one character")
        ok = False
    return MaskSpec(kind="partial", location=rule.location, options=options) if ok else None


KIND = Kind("partial", check=check_partial, parse=parse, value_fn=partial_value_fn)
