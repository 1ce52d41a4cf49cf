"""The transformer catalogue: rule kind -> (check, compile)."""

from __future__ import annotations

from collections.abc import Callable

from datacloner.catalog import Column
from datacloner.masking import (
    constant,
    faker_rule,
    hashing,
    json_rule,
    noise,
    partial,
    scrub,
    shift,
    template,
)
from datacloner.masking.base import Masker, RowMasker, ValueFn, over_batch, spec_error
from datacloner.masking.columns import ColumnType, column_type
from datacloner.rules import MaskSpec

Checker = Callable[[MaskSpec, str, ColumnType | None], None]
ValueCompiler = Callable[[MaskSpec, bytes, ColumnType | None], ValueFn]

# kind -> (check at plan time, compile one value's masking). The batch
# wrapper (NULLs, arrays, BadValue) is the same for all; template is a row masker.
TRANSFORMERS: dict[str, tuple[Checker, ValueCompiler | None]] = {
    "faker": (faker_rule.check_faker, faker_rule.faker_value_fn),
    "value": (constant.check_value, constant.value_value_fn),
    "null": (constant.check_null, constant.null_value_fn),
    "hash": (hashing.check_hash, hashing.hash_value_fn),
    "scrub": (scrub.check_scrub, scrub.scrub_value_fn),
    "json": (json_rule.check_json, json_rule.json_value_fn),
    "partial": (partial.check_partial, partial.partial_value_fn),
    "shift": (shift.check_shift, shift.shift_value_fn),
    "noise": (noise.check_noise, noise.noise_value_fn),
    "template": (template.check_template, None),
}


def _lookup(spec: MaskSpec, column: str | None) -> tuple[Checker, ValueCompiler | None]:
    try:
        return TRANSFORMERS[spec.kind]
    except KeyError:
        raise spec_error(
            spec,
            column,
            f"mask kind {spec.kind!r} is not supported",
            hint=f"Use one of: {', '.join(sorted(TRANSFORMERS))}.",
        ) from None


def check_spec(spec: MaskSpec, *, column: str, target: Column | None = None) -> None:
    """Validate a rule before any row moves; raises UsageError (exit 2) naming the
    rules file and line and ``column``.

    Always: unknown provider (with the closest names), unknown locale (with
    close ones), bad args, ``unique`` on a non-text provider, the rules inside
    scrub and json. With ``target`` (the catalog's column): the output must fit
    its type (dates for date columns, integers in range for integer columns,
    valid inet / uuid / JSON ..., arrays by their element type), ``unique``
    needs room for its token in a ``varchar(n)``, a constant must fit, NULL
    must be allowed, a template must not read its own column.
    """
    check, _ = _lookup(spec, column)
    check(spec, column, column_type(target) if target is not None else None)


def value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    """One non-NULL, non-array value in, its masked value out (rules inside rules)."""
    _, compile_ = _lookup(spec, None)
    if compile_ is None:
        raise spec_error(spec, None, f"a {spec.kind} rule cannot mask a single value")
    return compile_(spec, secret, col)


def compile_mask(spec: MaskSpec, secret: bytes, target: Column | None = None) -> Masker | RowMasker:
    """Compile a rule once per column; the result masks whole batches.

    ``None`` stays ``None`` for every kind, arrays (Python lists) are masked
    element by element (except a json rule's documents), and a value a rule
    cannot mask raises :class:`BadValue` with its index in the batch. Outputs
    fit ``target.max_length``. A ``template`` rule gives a :class:`RowMasker`.
    The output depends only on (secret, ``spec.identity()``, the input, and
    the target column's type and length): see :func:`masker_key`.
    """
    col = column_type(target) if target is not None else None
    if spec.kind == "template":
        return template.compile_template(spec, secret, col)
    if spec.kind == "null":
        return constant.compile_null(spec, secret, col)
    fn = value_fn(spec, secret, col)
    # A json document may itself be a list (a JSON array): only a json[] column's
    # lists are arrays of documents.
    arrays = spec.kind != "json" or (col is not None and col.is_array)
    return over_batch(fn, arrays=arrays)


def masker_key(spec: MaskSpec, target: Column | None = None) -> str:
    """What a compiled masker depends on: share one masker per key, not per identity
    (two columns with the same rule but different lengths need different maskers)."""
    if target is None:
        return spec.identity()
    col = column_type(target)
    parts = [spec.identity(), col.category, str(col.max_length), str(col.is_array)]
    if spec.kind == "noise":
        parts += [str(col.int_bits), str(col.precision), str(col.scale)]
    if spec.kind == "template":
        parts.append(target.name)
    return "\x1f".join(parts)
