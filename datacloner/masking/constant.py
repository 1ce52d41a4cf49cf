"""Constant transformers: ``null`` and ``{value: ...}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datacloner.masking.base import Masker, spec_error
from datacloner.rules import MaskSpec


def check_null(spec: MaskSpec, column: str) -> None:
    # unique + null is fine: NULLs never collide in a unique constraint.
    return None


def compile_null(spec: MaskSpec, secret: bytes) -> Masker:
    def mask(values: Sequence[Any]) -> list[Any]:
        return [None] * len(values)

    return mask


def check_value(spec: MaskSpec, column: str) -> None:
    if spec.unique:
        raise spec_error(
            spec,
            column,
            "unique: true cannot hold for a constant {value: ...}: every row gets the same value",
            hint="Drop unique, or use a Faker provider, e.g. {faker: email, unique: true}.",
        )


def compile_value(spec: MaskSpec, secret: bytes) -> Masker:
    constant = spec.value

    def mask(values: Sequence[Any]) -> list[Any]:
        # NULL stays NULL: a constant must not invent data where there was none.
        return [None if v is None else constant for v in values]

    return mask
