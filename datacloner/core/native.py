"""The one place that decides whether datacloner's optional C extensions are used.

setup.py builds them when a C compiler is there (``optional=True``: without one
the install still succeeds). Every native path gives exactly the pure-Python
outputs; the extensions only make them faster (docs/performance.md, "Native
code", says what each buys). A module that has a native form asks
:func:`extension` for it (at import, or where it compiles a masker) and takes
its Python path on None: nothing else imports an extension.

``DATACLONER_PURE_PYTHON=1`` turns them all off, so a user chasing a bug (and
the tests) can compare both paths. orjson is a dependency, not one of these:
it is used wherever it gives json's own objects and bytes.
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

PURE_PYTHON_ENV = "DATACLONER_PURE_PYTHON"


def pure_python() -> bool:
    """True when ``DATACLONER_PURE_PYTHON`` asks for the pure-Python paths."""
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def extension(name: str) -> ModuleType | None:
    """The built extension ``name`` (``datacloner.masking._fastdraw``...), or None
    when it was not built or ``DATACLONER_PURE_PYTHON`` is set."""
    return None if pure_python() else _built(name)


@functools.cache
def _built(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # not built (no C compiler at install time): pure Python
        return None
