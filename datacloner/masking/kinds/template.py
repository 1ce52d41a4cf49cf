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

import difflib
from collections.abc import Mapping
from typing import Any

from datacloner.core.catalog import Column
from datacloner.core.errors import UsageError
from datacloner.masking.base import RowMasker, spec_error
from datacloner.masking.columns import ColumnType
from datacloner.masking.fitting import check_text_column, check_unique_room
from datacloner.masking.keyed import KeyedHash, canonical_bytes
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec, RuleSource, SpecParser
from datacloner.masking.unique import fit_text, make_unique


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


def check_row(
    spec: MaskSpec, table: str, column: str, names: list[str], masks: Mapping[str, MaskSpec]
) -> list[str]:
    """A template reads other columns of the same row: they must exist and
    must not be templates themselves (one pass, no ordering between them)."""
    errors: list[str] = []
    for field_name in spec.options.get("fields", ()):
        if field_name == column:
            continue
        if field_name not in names:
            found = difflib.get_close_matches(field_name, names, n=3, cutoff=0.5)
            closest = f" (closest: {', '.join(found)})" if found else ""
            errors.append(
                f"{spec.location}: the template of {table}.{column} reads "
                f"{{{field_name}}}, which is not a column{closest}"
            )
        elif (other := masks.get(field_name)) is not None and other.kind == KIND.name:
            errors.append(
                f"{spec.location}: the template of {table}.{column} reads "
                f"{{{field_name}}}, another template: read that column's own inputs instead"
            )
    return errors


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


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    _, unique = p.common_options(rule)
    if unique is None:
        return None
    if not isinstance(body, str):
        p.error(where, f'{label}.template: expected text such as "{{first_name}}.{{last_name}}"')
        return None
    try:
        parts = parse_template(body)
    except ValueError as exc:
        p.error(where, f"{label}.template: {exc}")
        return None
    fields = list(dict.fromkeys(p for is_field, p in parts if is_field))
    if not fields:
        p.error(
            where,
            f"{label}.template: names no column; write columns in braces, "
            'e.g. "{first_name}.{last_name}@example.com"',
        )
        return None
    return MaskSpec(
        kind="template",
        location=rule.location,
        unique=unique,
        options={"template": body, "fields": fields},
    )


def parse_template(text: str) -> list[tuple[bool, str]]:
    """``"{first_name}.{last_name}@x"`` -> [(True, "first_name"), (False, "."), ...].

    ``{{`` and ``}}`` are literal braces. A field is a column name as written,
    spaces and dots included: no attribute access or format specs (unlike
    str.format, which would let a rules file reach Python internals).
    """
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            if end < 0:
                raise ValueError(f"`{{` at character {i + 1} is not closed; write {{{{ for a brace")
            name = text[i + 1 : end]
            if not name or "{" in name:
                raise ValueError(f"empty or nested braces at character {i + 1}")
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, name))
            i = end + 1
        elif ch == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise ValueError(f"`}}` at character {i + 1} has no `{{`; write }}}} for a brace")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


def _key_parts(col: ColumnType, target: Column) -> list[str]:
    return [target.name]  # the template leaves its own column out of what it reads


KIND = Kind(
    "template",
    check=check_template,
    parse=parse,
    options=("unique",),
    compile=compile_template,
    key_parts=_key_parts,
    check_row=check_row,
)
