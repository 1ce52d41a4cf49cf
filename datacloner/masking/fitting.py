"""Plan-time checks shared by the transformer families: does the output fit the column?"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datacloner.masking.base import spec_error
from datacloner.masking.columns import HINTS, TEXT, ColumnType, describe, fits
from datacloner.masking.spec import MaskSpec
from datacloner.masking.unique import TOKEN_LENGTH


def type_label(col: ColumnType) -> str:
    return f"{col.spelling or 'untyped'}" + (" (an array: each element)" if col.is_array else "")


def check_samples(
    spec: MaskSpec, column: str, col: ColumnType | None, samples: Iterable[Any], what: str
) -> None:
    """Every sample output must fit the column type (arrays: the element type)."""
    if col is None:
        return
    for sample in samples:
        if sample is not None and not fits(sample, col):
            raise spec_error(
                spec,
                column,
                f"{what} gives {describe(sample)}, which does not fit column type "
                f"{type_label(col)}",
                hint=HINTS.get(col.category),
            )


def check_text_column(spec: MaskSpec, column: str, col: ColumnType | None, what: str) -> None:
    """Rules whose output is text (scrub, partial, template) need a text column."""
    if col is not None and not col.textual:
        raise spec_error(
            spec,
            column,
            f"{what} gives text, but column type is {type_label(col)}",
            hint=HINTS.get(col.category) if col.category != TEXT else None,
        )


def check_unique_room(spec: MaskSpec, column: str, col: ColumnType | None) -> None:
    if spec.unique and col is not None and col.max_length is not None:  # noqa: SIM102
        if col.max_length < TOKEN_LENGTH:
            raise spec_error(
                spec,
                column,
                f"unique: true can never fit column type {col.spelling}: the uniqueness token "
                f"alone needs {TOKEN_LENGTH} characters (and 17 with a separator)",
                hint="Widen the column, drop unique, or use {hash: {hex: N}} if N characters "
                "are enough to be unique in practice.",
            )


def check_nullable(spec: MaskSpec, column: str, col: ColumnType | None, what: str) -> None:
    if col is not None and not col.nullable:
        raise spec_error(
            spec,
            column,
            f"{what} gives NULL, but the column is NOT NULL: the load would fail",
            hint="Use {value: ...} with a harmless constant, or a Faker provider.",
        )
