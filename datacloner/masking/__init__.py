"""Masking: the transformer catalogue, compiled once per column, applied to batches.

No database code lives here. See docs/masking.md.
"""

from datacloner.masking.base import Masker
from datacloner.masking.registry import TRANSFORMERS, check_spec, compile_mask

__all__ = ["TRANSFORMERS", "Masker", "check_spec", "compile_mask"]
