"""``{template: "{first_name}.{last_name}@example.com"}``: a value built from the row.

The fields are other columns of the same row, *after* they were masked, so
the result is made of fakes (a kept column's value is used as is: keep only
what is not personal). The compiled rule is a :class:`RowMasker`: the table
masker calls it after every other column, with each row as a mapping of
column name to value. A NULL field renders as empty text; the column's own
NULL stays NULL (which is why the row holds the column's own original value,
under its own name; the output never contains it).

``unique: true`` appends the uniqueness token of the column's own original
value (or puts it before the ``@`` of an email), as for faker rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datacloner.errors import UsageError
from datacloner.masking.base import RowMasker, spec_error
from datacloner.masking.columns import ColumnType
from datacloner.masking.fitting import check_text_column, check_unique_room
from datacloner.masking.keyed import KeyedHash, canonical_bytes
from datacloner.masking.unique import fit_text, make_unique
from datacloner.rules import MaskSpec, parse_template


def check_template(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    check_text_column(spec, column, col, "template")
    check_unique_room(spec, column, col)
    fields = spec.options.get("fields", [])
    if col is not None and col.name in fields:
        raise spec_error(
            spec,
            column,
            f"the template reads its own column {{{col.name}}}: that is the original, "
            "personal value",
            hint="Build it from other (masked) columns only.",
        )


def compile_template(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> RowMasker:
    if col is None or not col.name:
        raise UsageError(
            f"{spec.location}: a template rule is compiled for a column: pass target=Column"
        )
    column = col.name
    if column in spec.options.get("fields", []):
        raise UsageError(f"{spec.location}: column {column}: the template reads its own column")
    parts = parse_template(spec.options["template"])
    keyed = KeyedHash(secret, spec.identity())
    unique = spec.unique
    max_length = col.max_length

    def render(row: Mapping[str, Any]) -> str:
        pieces = []
        for is_field, text in parts:
            if is_field:
                value = row.get(text)
                pieces.append("" if value is None else str(value))
            else:
                pieces.append(text)
        out = "".join(pieces)
        if unique:
            return make_unique(out, keyed(canonical_bytes(row[column])), max_length)
        return out if max_length is None else fit_text(out, max_length)

    fields = tuple(dict.fromkeys([*spec.options.get("fields", []), column]))
    return RowMasker(column, fields, render)
