"""``{hash: hex}``, ``{hash: {hex: 16}}``, ``{hash: uuid}``, ``{hash: {int: {min: 1, max: 9}}}``.

A keyed hash of the input (BLAKE2b, keyed with the rule key): the same input
gives the same output everywhere, like every other rule, but the output is a
bare identifier rather than a realistic fake. ``hex`` (128 bits by default)
and ``uuid`` (122 bits) are unique in practice; ``int`` maps into a range, so
distinct inputs can share a number.
"""

from __future__ import annotations

import uuid
from typing import Any

from datacloner.core.yamlsource import unknown_key
from datacloner.masking.base import REDRAWS, ValueFn, same_as_source, spec_error
from datacloner.masking.columns import ColumnType
from datacloner.masking.fitting import check_samples
from datacloner.masking.keyed import KeyedHash, canonical_bytes, derive, uniform
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec, RuleSource, SpecParser, is_int
from datacloner.masking.unique import UUID_LENGTH

HASH_FORMATS = ("hex", "uuid", "int")
HEX_LENGTH = 32  # characters (128 bits) unless {hash: {hex: N}}
INT_RANGE = (0, 2_147_483_647)  # {hash: int}: fits a PostgreSQL integer


def check_hash(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    options = spec.options
    fmt = options.get("format")
    if fmt == "hex":
        samples: list[Any] = [("0123456789abcdef" * 4)[: options["length"]]]
    elif fmt == "uuid":
        samples = [str(uuid.UUID(int=0))]
        if col is not None and col.max_length is not None and col.max_length < UUID_LENGTH:
            raise spec_error(
                spec,
                column,
                f"{{hash: uuid}} gives {UUID_LENGTH} characters; column type {col.spelling} "
                f"holds {col.max_length}",
                hint=f"Use {{hash: {{hex: {col.max_length}}}}} instead.",
            )
    elif fmt == "int":
        samples = [options["min"], options["max"]]
    else:
        raise spec_error(spec, column, f"unknown hash format {fmt!r}; use hex, uuid or int")
    check_samples(spec, column, col, samples, f"{{hash: {fmt}}}")


def hash_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    options = spec.options
    keyed = KeyedHash(secret, spec.identity())
    fmt = options["format"]
    if fmt == "hex":
        length = options["length"]
        if col is not None and col.max_length is not None:
            length = min(length, col.max_length)
        return lambda value: keyed(canonical_bytes(value)).hex()[:length]
    if fmt == "uuid":
        return lambda value: str(uuid.UUID(bytes=keyed(canonical_bytes(value))[:16], version=4))
    low, high = options["min"], options["max"]

    def number(value: Any) -> int:
        # A range can give the input back ({int: {min: 1, max: 9}} on 7): draw
        # again from another digest of the same input (deterministic).
        digest = keyed(canonical_bytes(value))
        out = uniform(digest, 0, low, high)
        attempt = 0
        while high > low and attempt < REDRAWS and same_as_source(out, value):
            attempt += 1
            out = uniform(derive(digest, attempt), 0, low, high)
        return out

    return number


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    usage = (
        f"{label}.hash: expected hex, uuid or int, or a mapping such as {{hex: 16}} "
        "or {int: {min: 1, max: 1000000}}"
    )
    if isinstance(body, str):
        fmt, setting = body, None
    elif isinstance(body, dict) and len(body) == 1:
        fmt, setting = next(iter(body.items()))
    else:
        p.error(where, usage)
        return None
    if fmt not in HASH_FORMATS:
        p.error(where, f"{label}.hash: {unknown_key(str(fmt), HASH_FORMATS)}")
        return None
    options: dict[str, Any] = {"format": fmt}
    if fmt == "hex":
        length = HEX_LENGTH if setting is None else setting
        if not is_int(length) or not 1 <= length <= 64:
            p.error(where, f"{label}.hash.hex: expected a length from 1 to 64 characters")
            return None
        options["length"] = length
    elif fmt == "uuid":
        if setting is not None:
            p.error(where, f"{label}.hash.uuid: takes no settings; write {{hash: uuid}}")
            return None
    else:
        low, high = INT_RANGE
        if setting is not None:
            if not isinstance(setting, dict) or set(setting) - {"min", "max"}:
                p.error(where, f"{label}.hash.int: expected {{min: 1, max: 1000000}}")
                return None
            low, high = setting.get("min", low), setting.get("max", high)
        if not (is_int(low) and is_int(high)) or low > high:
            p.error(where, f"{label}.hash.int: min and max must be integers, min <= max")
            return None
        options.update(min=low, max=high)
    return MaskSpec(kind="hash", location=rule.location, options=options)


def _changes(spec: MaskSpec) -> bool:
    """For verify: a hash never equals its input, but a short hex digest (under
    8 characters) may equal a short hex input by chance."""
    options = spec.options if isinstance(spec.options, dict) else {}
    return options.get("format") != "hex" or int(options.get("length", 32)) >= 8


KIND = Kind("hash", check=check_hash, parse=parse, value_fn=hash_value_fn, changes=_changes)
