"""The transformer catalogue: rule kind -> (validate, compile)."""

from __future__ import annotations

from collections.abc import Callable

from datacloner.masking import constant, faker_rule
from datacloner.masking.base import Masker, spec_error
from datacloner.rules import MaskSpec

Checker = Callable[[MaskSpec, str], None]
Compiler = Callable[[MaskSpec, bytes], Masker]

# One entry per kind a rule can have today. scrub/json/hash come later.
TRANSFORMERS: dict[str, tuple[Checker, Compiler]] = {
    "faker": (faker_rule.check_faker, faker_rule.compile_faker),
    "value": (constant.check_value, constant.compile_value),
    "null": (constant.check_null, constant.compile_null),
}


def _lookup(spec: MaskSpec, column: str | None) -> tuple[Checker, Compiler]:
    try:
        return TRANSFORMERS[spec.kind]
    except KeyError:
        raise spec_error(
            spec,
            column,
            f"mask kind {spec.kind!r} is not supported",
            hint=f"Use one of: {', '.join(sorted(TRANSFORMERS))}.",
        ) from None


def check_spec(spec: MaskSpec, *, column: str) -> None:
    """Validate a rule before any row moves; raises UsageError (exit 2) naming the
    rules file and line and ``column``: unknown provider (with the closest names),
    unknown locale (with close ones), bad args, ``unique`` on a non-text provider."""
    check, _ = _lookup(spec, column)
    check(spec, column)


def compile_mask(spec: MaskSpec, secret: bytes) -> Masker:
    """Compile a rule once per column; the result masks whole batches.

    ``None`` stays ``None`` for every kind. Faker rules are deterministic: the
    output depends only on (secret, ``spec.identity()``, the input).
    """
    _, compile_ = _lookup(spec, None)
    return compile_(spec, secret)
