"""The one switch for the optional C extensions (setup.py builds them when it can).

Every native path gives exactly the pure-Python outputs; the extensions only
make them faster. ``DATACLONER_PURE_PYTHON=1`` turns them all off, so tests
(and a user chasing a bug) can compare both paths.
"""

from __future__ import annotations

import os

PURE_PYTHON_ENV = "DATACLONER_PURE_PYTHON"


def pure_python() -> bool:
    """True when ``DATACLONER_PURE_PYTHON`` asks for the pure-Python paths."""
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")
