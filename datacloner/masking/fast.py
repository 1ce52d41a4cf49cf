"""The native fast path of faker rules, when the C extension is built.

``_fastdraw.c`` does per value what :func:`faker_rule.faker_value_fn` does for a
provider with a compiled draw (:mod:`pools`) or a lazy pool (:mod:`slots`): the
keyed BLAKE2b of the input's UTF-8, the same divmods on the same bits, the
same unique token, the same fresh draws and trimming for a ``varchar(n)``. Its
outputs are the Python path's outputs, byte for byte (tests compare them), so
a refresh gives the same target with or without it; it only makes them about
five times faster. Anything it does not cover (non-text input, empty text, a
UUID to make unique, a pool's list or mapping, a fake that may equal its input
and must be drawn again) is handed to the Python masker it wraps: only those
rare values take the slow path, with the same result.

``DATACLONER_PURE_PYTHON=1`` turns it off (tests use it to compare both paths).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datacloner.core import native
from datacloner.masking import pools

_EXTENSION = "datacloner.masking._fastdraw"


def available() -> bool:
    return native.extension(_EXTENSION) is not None


def native_faker(
    draw: Any,
    key: bytes,
    person: bytes,
    *,
    unique: bool,
    max_length: int | None,
    slow: Callable[[Any], Any],
) -> Callable[[Any], Any] | None:
    """A value function equal to ``slow`` (the Python masker), native where it
    can be; None when the extension is not available or the draw has no
    native form."""
    fastdraw = native.extension(_EXTENSION)
    if fastdraw is None:
        return None
    spec = pools.to_native(draw)
    if spec is None:
        return None
    return fastdraw.FastDraw(
        spec, key, person, unique, -1 if max_length is None else max_length, slow
    )
