"""Masking: the transformer catalogue, compiled once per column, applied to batches.

No database code lives here. See docs/masking.md.
"""

from datacloner.masking.base import BadValue, Masker, RowMasker
from datacloner.masking.registry import TRANSFORMERS, check_spec, compile_mask, masker_key

__all__ = [
    "TRANSFORMERS",
    "BadValue",
    "Masker",
    "RowMasker",
    "check_spec",
    "compile_mask",
    "masker_key",
]
