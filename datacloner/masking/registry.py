"""The transformer catalogue: a rule kind's check and compiled masker, by name.

The kinds live one per module (see :mod:`datacloner.masking.kinds`, which
names them); this module imports none of them, so they may import it for the
rules inside their rules (``scrub``, ``json``).
"""

from __future__ import annotations

from datacloner.core.catalog import Column
from datacloner.masking import kinds
from datacloner.masking.base import Masker, RowMasker, ValueFn, over_batch, spec_error
from datacloner.masking.columns import ColumnType, column_type
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec

TRANSFORMERS: tuple[str, ...] = kinds.NAMES  # every kind's name


def _lookup(spec: MaskSpec, column: str | None) -> Kind:
    kind = kinds.load(spec.kind)
    if kind is None:
        raise spec_error(
            spec,
            column,
            f"mask kind {spec.kind!r} is not supported",
            hint=f"Use one of: {', '.join(sorted(TRANSFORMERS))}.",
        )
    return kind


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
    _lookup(spec, column).check(spec, column, column_type(target) if target is not None else None)


def value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    """One non-NULL, non-array value in, its masked value out (rules inside rules)."""
    compile_ = _lookup(spec, None).value_fn
    if compile_ is None:
        raise spec_error(spec, None, f"a {spec.kind} rule cannot mask a single value")
    fn: ValueFn = compile_(spec, secret, col)
    return fn


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
    compile_ = _lookup(spec, None).compile
    if compile_ is not None:
        masker: Masker | RowMasker = compile_(spec, secret, col)
        return masker
    return over_batch(value_fn(spec, secret, col))


def masker_key(spec: MaskSpec, target: Column | None = None) -> str:
    """What a compiled masker depends on: share one masker per key, not per identity
    (two columns with the same rule but different lengths need different maskers)."""
    if target is None:
        return spec.identity()
    col = column_type(target)
    parts = [spec.identity(), col.category, str(col.max_length), str(col.is_array)]
    key_parts = _lookup(spec, None).key_parts
    if key_parts is not None:
        parts += key_parts(col, target)
    return "\x1f".join(parts)
