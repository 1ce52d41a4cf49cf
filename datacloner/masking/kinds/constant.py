"""Constant transformers: ``null`` and ``{value: ...}``, two kinds of one family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datacloner.masking.base import Masker, ValueFn, spec_error
from datacloner.masking.columns import ColumnType
from datacloner.masking.fitting import check_nullable, check_samples
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec, RuleSource, SpecParser, is_scalar


def check_null(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    # unique + null is fine: NULLs never collide in a unique constraint.
    check_nullable(spec, column, col, "null")


def compile_null(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> Masker:
    def mask(values: Sequence[Any]) -> list[Any]:
        return [None] * len(values)

    return mask


def null_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    return lambda value: None


def check_value(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    if spec.unique:
        raise spec_error(
            spec,
            column,
            "unique: true cannot hold for a constant {value: ...}: every row gets the same value",
            hint="Drop unique, or use a Faker provider, e.g. {faker: email, unique: true}.",
        )
    constant = spec.value
    if constant is None:
        check_nullable(spec, column, col, "{value: null}")
        return
    check_samples(spec, column, col, [constant], "the constant")
    text = constant if isinstance(constant, str) else str(constant)
    if col is not None and col.max_length is not None and len(text) > col.max_length:
        raise spec_error(
            spec,
            column,
            f"the constant has {len(text)} characters; column type {col.spelling} holds "
            f"{col.max_length}",
            hint="Shorten the constant or widen the column.",
        )


def value_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    constant = spec.value
    # NULL stays NULL (the batch wrapper): a constant must not invent data where there was none.
    return lambda value: constant


def parse_value(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, value, path = rule.label, rule.value, rule.path
    constant = value["value"]
    if not is_scalar(constant):
        p.error(
            (*path, "value"),
            f"{label}.value: expected one constant (text, number, true/false or null)",
        )
        return None
    return MaskSpec(kind="value", location=rule.location, value=constant)


VALUE = Kind("value", check=check_value, parse=parse_value, value_fn=value_value_fn)
NULL = Kind("null", check=check_null, value_fn=null_value_fn, compile=compile_null)
