"""``{noise: {ratio: 0.1}}``: move numbers by a keyed relative amount, within bounds.

``value * (1 + u)`` with ``u`` in [-ratio, +ratio], keyed by the input: the
same amount in every table and run. Types and scales are kept: an ``int``
stays an ``int`` (rounded), a ``Decimal`` and numeric text keep their number
of decimals (``"12.50"`` -> ``"13.07"``), a float stays a float. Zero stays
zero, and a small integer may not move (1 * 1.1 rounds to 1): noise hides
exact amounts, it does not hide that an amount is small.

The result always fits the column: a value that would overflow an integer
type, a ``numeric(p, s)`` or a ``varchar(n)`` is moved towards zero instead.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from datacloner.core.catalog import Column
from datacloner.masking.base import Unmaskable, ValueFn, spec_error
from datacloner.masking.columns import FLOAT, INT, NUMERIC, TEXT, ColumnType
from datacloner.masking.fitting import type_label
from datacloner.masking.keyed import KeyedHash, canonical_bytes, uniform
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec, RuleSource, SpecParser

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_KEEP = {"nan", "infinity", "-infinity", "+infinity", "inf", "-inf"}
_SCALE = 1 << 52  # resolution of the keyed fraction
_CTX = Context(prec=120)  # exact for any numeric PostgreSQL stores before the point


def check_noise(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    if col is not None and col.category not in (INT, NUMERIC, FLOAT, TEXT, "other"):
        raise spec_error(
            spec,
            column,
            f"noise moves numbers; column type is {type_label(col)}",
            hint="Use {shift: {days: 30}} for dates and timestamps.",
        )


def noise_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    keyed = KeyedHash(secret, spec.identity())
    ratio = Decimal(repr(spec.options["ratio"]))
    int_range = col.int_range if col is not None else None
    limit = None  # numeric(p, s): |value| < 10 ** (p - s)
    if col is not None and col.category == NUMERIC and col.precision is not None:
        limit = Decimal(10) ** (col.precision - (col.scale or 0))
    max_length = col.max_length if col is not None else None
    # real/double arrive as text like "14": rounding to its scale would break the ratio
    is_float = col is not None and col.category == FLOAT

    def factors(value: Any) -> tuple[Decimal, Decimal]:
        """(1 + u, 1 - |u|): the second never grows the value, the fallback."""
        r = uniform(keyed(canonical_bytes(value)), 0, 0, 2 * _SCALE)
        u = _CTX.multiply(_CTX.divide(Decimal(r - _SCALE), _SCALE), ratio)
        return _CTX.add(1, u), _CTX.subtract(1, abs(u))

    def fits(number: Decimal) -> bool:
        if int_range is not None and not int_range[0] <= number <= int_range[1]:
            return False
        return limit is None or abs(number) < limit

    def quantized(number: Decimal, quantum: Decimal) -> Decimal:
        try:
            return number.quantize(quantum, context=_CTX)
        except InvalidOperation:  # more digits than the context holds (9.9e+119): as it is
            return number

    def scaled(number: Decimal, value: Any, exponent: int) -> Decimal:
        grow, shrink = factors(value)
        quantum = Decimal(1).scaleb(min(exponent, 0))
        out = quantized(_CTX.multiply(number, grow), quantum)
        if not fits(out):
            out = quantized(_CTX.multiply(number, shrink), quantum)
        return out

    def mask(value: Any) -> Any:
        if isinstance(value, bool):
            raise Unmaskable("noise needs a number, got a boolean")
        if isinstance(value, int):
            return int(scaled(Decimal(value), value, 0))
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return value
            grow, _ = factors(value)
            return float(_CTX.multiply(Decimal(repr(value)), grow))
        if isinstance(value, Decimal):
            if not value.is_finite():
                return value
            exponent = value.as_tuple().exponent
            return scaled(value, value, exponent if isinstance(exponent, int) else 0)
        if isinstance(value, str):
            return noise_text(value)
        raise Unmaskable(f"noise needs a number, got {type(value).__name__}")

    def noise_text(text: str) -> str:
        if text.strip().lower() in _KEEP:
            return text
        if not _NUMBER.fullmatch(text):
            raise Unmaskable("not a number")
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise Unmaskable("not a number") from None
        if "e" in text.lower() or is_float:  # no fixed scale to keep: a float stays a float
            grow, _ = factors(text)
            return repr(float(_CTX.multiply(number, grow)))
        exponent = number.as_tuple().exponent
        out = scaled(number, text, exponent if isinstance(exponent, int) else 0)
        result = f"{out:f}"
        if max_length is not None and len(result) > max_length:
            _, shrink = factors(text)
            result = f"{_CTX.multiply(number, shrink).quantize(out, context=_CTX):f}"
        return result

    return mask


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    if not isinstance(body, dict) or set(body) != {"ratio"}:
        p.error(where, f"{label}.noise: expected {{ratio: R}}, e.g. {{ratio: 0.1}}")
        return None
    ratio = body["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        p.error(
            (*where, "ratio"),
            f"{label}.noise.ratio: expected a number above 0 and at most 1 (0.1 = ±10%)",
        )
        return None
    return MaskSpec(kind="noise", location=rule.location, options={"ratio": float(ratio)})


def _key_parts(col: ColumnType, target: Column) -> list[str]:
    # the fitted output depends on the numeric type's size, not only its category
    return [str(col.int_bits), str(col.precision), str(col.scale)]


KIND = Kind("noise", check=check_noise, parse=parse, value_fn=noise_value_fn, key_parts=_key_parts)
