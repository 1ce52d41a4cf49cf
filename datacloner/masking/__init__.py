"""Masking: the transformer catalogue, compiled once per column, applied to batches.

No database code lives here. See docs/masking.md. The names below are loaded
on first use, so importing one module of this package (a kind, the rule
parser) does not import them all.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BadValue": "datacloner.masking.base",
    "Masker": "datacloner.masking.base",
    "RowMasker": "datacloner.masking.base",
    "TRANSFORMERS": "datacloner.masking.registry",
    "check_spec": "datacloner.masking.registry",
    "compile_mask": "datacloner.masking.registry",
    "masker_key": "datacloner.masking.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
